"""The JSON-lines audit stream: an export of the catalog, exactly once, resumable.

The catalog is the only record; the stream (``audit.log``: a file, or stdout) is produced
from it by ``serve``'s supervisor, by every command that closes a core, and by
``audit export``. The cursor file records, per chain, the last exported sequence number,
and the size of the output file after the last exported line. Per chain, the events
visible to a reader are always a prefix (appends hold the chain head's lock until they
commit), so "seq greater than the cursor" never skips an event that commits later. The
output is written and synced first, the cursor (atomically replaced) second; a run that
finds the output longer than the cursor says (a crash between the two) cuts it back
before continuing, so every event is in the file exactly once. Exporters of one cursor
take turns under a lock file (several processes may export at once). A pipe (stdout)
cannot be cut back: there a crash between the two may repeat the last batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select

from gateway.audit import EXPORT_COLUMNS, _with_text_ts
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, audit_heads
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import json_safe

BATCH = 1000
log = logging.getLogger(__name__)


def _load_cursor(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {"chains": {str(k): int(v) for k, v in data["chains"].items()},
                "offset": int(data["offset"])}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise GatewayError(f"export cursor {path} is unreadable: restore it, or delete it "
                           "and the output file to export everything again") from None


def _save_cursor(path: Path, cursor: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(cursor, sort_keys=True), encoding="utf-8")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _turn(cursor_path: Path) -> Iterator[None]:
    """One exporter of a cursor at a time (processes and threads alike)."""
    fd = os.open(cursor_path.with_name(cursor_path.name + ".lock"), os.O_RDWR | os.O_CREAT,
                 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _heads(catalog: Catalog, until: datetime | None = None) -> dict[str, int]:
    """Each chain's last sequence number (of the events stamped up to ``until``)."""
    with catalog.read() as conn:
        if until is None:
            rows = conn.execute(select(audit_heads.c.chain, audit_heads.c.seq))
        else:
            rows = conn.execute(select(audit_events.c.chain, func.max(audit_events.c.seq))
                                .where(audit_events.c.ts <= until)
                                .group_by(audit_events.c.chain))
        return {c: int(s) for c, s in rows}


def _line(row: Any, chain: str) -> str:
    data = _with_text_ts({k: row[k] for k in EXPORT_COLUMNS})
    data["chain"] = chain
    data["hash"] = row["hash"]
    return json_safe(json.dumps(data, ensure_ascii=False)) + "\n"


def _batches(catalog: Catalog, cursor: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    """(chain, rows) of events past the cursor, oldest first, at most BATCH at a time; the
    in-memory cursor already counts each batch when it is handed out."""
    with catalog.read() as conn:
        names = sorted(conn.execute(select(audit_heads.c.chain)).scalars())
    for chain in names:
        while True:
            after = cursor["chains"].get(chain, 0)
            with catalog.read() as conn:
                rows = conn.execute(select(audit_events).where(
                    audit_events.c.chain == chain, audit_events.c.seq > after)
                    .order_by(audit_events.c.seq).limit(BATCH)).mappings().all()
            if not rows:
                break
            cursor["chains"][chain] = rows[-1]["seq"]  # saved by the caller once written
            yield chain, rows


def export_once(catalog: Catalog, output: Path, cursor_path: Path) -> int:
    """Append every event not yet exported to the file ``output``; returns how many.

    A non-empty output without a cursor (a file the gateway wrote before its stream became
    an export, as each event committed) is adopted: kept whole, and the events stamped
    after its last change follow."""
    with _turn(cursor_path):
        cursor = _load_cursor(cursor_path)
        fd = os.open(output, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            if cursor is None:
                written = datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC)
                cursor = {"chains": _heads(catalog, written) if size else {}, "offset": size}
                if size:
                    log.warning("audit: %s has no export cursor; keeping its %d bytes and "
                                "exporting the events after %s", output, size,
                                written.isoformat(timespec="seconds"))
                    _save_cursor(cursor_path, cursor)
            if size < cursor["offset"]:
                raise GatewayError(f"export output {output} is shorter than its cursor "
                                   f"{cursor_path} says: it was cut or replaced; restore it")
            os.ftruncate(fd, cursor["offset"])  # lines of a run cut before it saved the cursor
            done = 0
            for chain, rows in _batches(catalog, cursor):
                view = memoryview("".join(_line(r, chain) for r in rows).encode("utf-8"))
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                cursor["offset"] = os.fstat(fd).st_size
                _save_cursor(cursor_path, cursor)
                done += len(rows)
            return done
        finally:
            os.close(fd)


def export_stream(catalog: Catalog, stream: TextIO, cursor_path: Path) -> int:
    """Write events not yet exported to ``stream`` (stdout); a new cursor starts at the
    current heads (a console is not sent the whole history)."""
    with _turn(cursor_path):
        cursor = _load_cursor(cursor_path)
        if cursor is None:
            _save_cursor(cursor_path, {"chains": _heads(catalog), "offset": 0})
            return 0
        done = 0
        for chain, rows in _batches(catalog, cursor):
            stream.write("".join(_line(r, chain) for r in rows))
            stream.flush()
            _save_cursor(cursor_path, cursor)
            done += len(rows)
        return done


def export_follow(catalog: Catalog, output: Path, cursor_path: Path, interval_s: float,
                  keep_going: Callable[[], bool] = lambda: True) -> None:
    """``export_once`` every ``interval_s`` seconds until ``keep_going`` says stop."""
    while keep_going():
        export_once(catalog, output, cursor_path)
        time.sleep(interval_s)


def export_to_target(catalog: Catalog, target: str, cursor_path: Path) -> int:
    """One round for ``audit.log``'s target: a file path, ``stdout`` or ``off``."""
    if target == "off":
        return 0
    if target == "stdout":
        return export_stream(catalog, sys.stdout, cursor_path)
    return export_once(catalog, Path(target), cursor_path)


def audit_target(config: Config) -> str:
    """``audit.log`` resolved: ``stdout``, ``off`` or an absolute file path."""
    target = config.audit.log
    return target if target in ("stdout", "off") else str(config.path(target))


def audit_cursor_file(config: Config, target: str) -> Path:
    """Where the export position of the audit stream ``target`` is kept."""
    if target == "stdout":
        return config.data_dir / "audit-stdout.cursor"
    return Path(target + ".cursor")
