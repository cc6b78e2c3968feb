"""The signed checkpoint: every chain's head, MACed under the audit key, in a file.

A database writer can delete the newest events of a chain and move its head row back;
the chain then verifies on its own. The checkpoint, written outside the catalog every
``audit.checkpoint_interval_s`` seconds and when a process stops, records how far each
chain had come: ``audit verify`` reports a chain shorter than its checkpoint, or one whose
event at the checkpointed position has another hash. Processes merge their views (the
highest head of each chain wins) under a lock file; the file never moves a chain back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_heads
from gateway.errors import GatewayError

Heads = dict[str, tuple[int, str]]


class CheckpointInvalid(GatewayError):
    """The checkpoint file is unreadable or its MAC does not match."""


def _mac(key: bytes, heads: Heads) -> str:
    body = json.dumps({c: list(v) for c, v in sorted(heads.items())}, separators=(",", ":"))
    return hmac.new(key, b"lumanox/audit-checkpoint/v1\0" + body.encode(),
                    hashlib.sha256).hexdigest()


def load(path: Path, key: bytes) -> Heads | None:
    """The checkpointed heads, None if there is no file; CheckpointInvalid if altered."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        heads = {c: (int(v[0]), str(v[1])) for c, v in data["heads"].items()}
        mac = str(data["mac"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise CheckpointInvalid(f"audit checkpoint {path} is unreadable: restore it from a "
                                "backup or investigate who changed it") from None
    if not hmac.compare_digest(mac, _mac(key, heads)):
        raise CheckpointInvalid(f"audit checkpoint {path} does not match its MAC: it was "
                                "altered, or belongs to another catalog")
    return heads


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write(path: Path, key: bytes, catalog: Catalog) -> None:
    """Merge the catalog's heads into the checkpoint file (atomically replaced)."""
    with catalog.read() as conn:
        heads: Heads = {r.chain: (r.seq, r.hash) for r in conn.execute(
            select(audit_heads.c.chain, audit_heads.c.seq, audit_heads.c.hash))}
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        old = load(path, key) or {}  # an altered file stays as evidence (the caller logs)
        for chain, head in old.items():
            if chain not in heads or heads[chain][0] < head[0]:
                heads[chain] = head
        tmp = path.with_name(path.name + ".tmp")
        text = json.dumps({"heads": {c: list(v) for c, v in sorted(heads.items())},
                           "mac": _mac(key, heads), "written": time.time()})
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)


class CheckpointWriter:
    """Writes the checkpoint at most every ``interval_s`` seconds (and on ``close``)."""

    def __init__(self, path: Path, key: bytes, catalog: Catalog, interval_s: float) -> None:
        self.path, self._key, self._catalog = path, key, catalog
        self.interval_s = interval_s
        self._last = 0.0

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.interval_s

    def write(self) -> None:
        write(self.path, self._key, self._catalog)
        self._last = time.monotonic()
