"""Test support for the report tests and bench/bench_reports.py: made-up audit trails,
the peak memory of a command, pixels of a screenshot.

* ``Trail`` describes a deterministic trail; ``Trail.events()`` yields its events and
  ``Trail.expected()`` counts them independently of the report (``collections.Counter``).
* ``write_chained(core, trail)``: through the audit log's own append path, in big
  transactions: a valid keyed chain (then a checkpoint), for tests that verify it.
* ``run_measured``: a command's exit code and its own peak RSS; ``count_colour``: pixels
  of one colour in a PNG screenshot (Pillow).
* ``write_fast_sqlite(db_file, trail)``: plain ``executemany`` into SQLite, chain fields
  left invalid (the chain check then reports the trail NOT verified at its first event):
  a million events in seconds, for the size and memory tests.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.audit import AuditEvent
from gateway.auditv2 import checkpoint
from gateway.core import Core

USERS = ("alice", "bob", "carol", "dave", "erin", "mallory")
PROTOCOLS = ("webdav", "sftp", "scp")
ACTIONS = ("write", "read", "read", "list", "stat", "login", "delete", "move")
RESULTS = ("ok",) * 9 + ("denied",)


@dataclass
class Trail:
    """``n`` events of ``tenant`` spread over ``days`` from ``start``; several share a
    timestamp (ties for the keyset pagination)."""

    n: int
    tenant: str = "acme"
    chain: str = "acme-chain"
    days: int = 365
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    extra: dict[str, Any] = field(default_factory=dict)

    def event(self, i: int) -> dict[str, Any]:
        action = ACTIONS[i % len(ACTIONS)]
        ts = self.start + timedelta(seconds=(i // 3) * (self.days * 86400 // max(self.n, 1)) * 3)
        path = f"/projects/p{i % 50}/file-{i % 997}.bin"
        nbytes = (i % 4096) * 17 if action in ("write", "read") else None
        result = "ok" if action != "login" else RESULTS[i % len(RESULTS)]
        return {"chain": self.chain, "ts": ts, "tenant": self.tenant,
                "user": USERS[i % len(USERS)], "protocol": PROTOCOLS[i % len(PROTOCOLS)],
                "remote_addr": f"192.0.2.{i % 200}", "session_id": f"s{i // 10:08x}",
                "action": action, "path": None if action == "login" else path,
                "dest_path": path + ".moved" if action == "move" else None,
                "bytes": nbytes, "sha256": None, "duration_ms": i % 100, "result": result,
                "reason": "method=password; client=SSH-2.0-test" if action == "login"
                else None}

    def events(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n):
            yield self.event(i)

    def expected(self, where: Callable[[dict[str, Any]], bool] | None = None,
                 **match: Any) -> dict[str, Any]:
        """Independent totals (Counters) of the events whose fields equal ``match`` (and
        for which ``where`` is true)."""
        tally = Tally()
        for e in self.events():
            if any(e[k] != v for k, v in match.items()) or (where and not where(e)):
                continue
            tally.add(e)
        return tally.result()


class Tally:
    """Counts events as they are generated (``collections.Counter``), apart from any report."""

    def __init__(self) -> None:
        self.c: dict[str, Counter] = {k: Counter() for k in ("user", "protocol", "action",
                                                             "day")}
        self.up: Counter = Counter()
        self.down: Counter = Counter()
        self.failed = self.n = 0

    def add(self, e: dict[str, Any]) -> None:
        self.n += 1
        c = self.c
        c["user"][e["user"]] += 1
        c["protocol"][e["protocol"]] += 1
        c["action"][e["action"]] += 1
        c["day"][e["ts"].date().isoformat()] += 1
        if e["action"] == "write":
            self.up[e["protocol"]] += e["bytes"]
        elif e["action"] == "read":
            self.down[e["protocol"]] += e["bytes"]
        self.failed += e["result"] in ("denied", "error")

    def result(self) -> dict[str, Any]:
        return {"events": self.n, "counts": self.c, "upload": self.up, "download": self.down,
                "failed": self.failed}


def write_chained(core: Core, trail: Trail, batch: int = 5000) -> None:
    """Store ``trail`` through ``AuditLog.append`` (valid MACs), then a checkpoint."""
    todo: list[AuditEvent] = []
    for e in trail.events():
        todo.append(AuditEvent(**e))
        if len(todo) >= batch:
            core.audit.write_now(todo)
            todo = []
    if todo:
        core.audit.write_now(todo)
    checkpoint.write(core.config.audit_checkpoint_file, core.audit.key, core.catalog)


_COLUMNS = ("chain", "seq", "ts", "tenant", "user", "protocol", "remote_addr", "session_id",
            "action", "path", "dest_path", "bytes", "sha256", "duration_ms", "result",
            "reason", "prev_hash", "hash", "format")


def write_fast_sqlite(db_file: Path, trail: Trail, batch: int = 50_000) -> dict[str, Any]:
    """Store ``trail`` with plain ``executemany`` (chain fields not valid); returns
    ``trail.expected()``, counted in the same pass."""
    tally = Tally()
    names = ", ".join(f'"{c}"' for c in _COLUMNS)
    sql = f"INSERT INTO audit_events ({names}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
    fake = "0" * 64
    con = sqlite3.connect(db_file)
    try:
        con.execute("PRAGMA synchronous=OFF")
        rows: list[tuple[Any, ...]] = []
        for seq, e in enumerate(trail.events(), 1):
            tally.add(e)
            ts = e["ts"].replace(tzinfo=None).isoformat(" ", "microseconds")
            rows.append((e["chain"], seq, ts, e["tenant"], e["user"], e["protocol"],
                         e["remote_addr"], e["session_id"], e["action"], e["path"],
                         e["dest_path"], e["bytes"], e["sha256"], e["duration_ms"],
                         e["result"], e["reason"], fake, fake, 2))
            if len(rows) >= batch:
                con.executemany(sql, rows)
                rows = []
        if rows:
            con.executemany(sql, rows)
        con.execute("INSERT INTO audit_heads (chain, seq, hash) VALUES (?, ?, ?)",
                    (trail.chain, trail.n, fake))
        con.commit()
    finally:
        con.close()
    return tally.result()


def count_colour(path: Path, rgb: tuple[int, int, int]) -> int:
    """How many pixels of the PNG screenshot have exactly this colour."""
    from PIL import Image

    with Image.open(path) as img:
        return sum(n for n, c in img.convert("RGB").getcolors(1 << 24) or () if c == rgb)
