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

Lines are JSON (``json``) or ArcSight CEF (``cef``, gateway/auditv2/cef.py: a SIEM's
input); the cursor remembers the format, and refuses to continue a stream in another one.
``audit export --follow`` (to a file or stdout) rounds until SIGTERM/SIGINT, which stop it
between batches, after the cursor was saved: a restart with the same cursor goes on
without a repeat or a gap. Memory holds one batch (``BATCH`` events).
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
from sqlalchemy.exc import DBAPIError

from gateway.audit import EXPORT_COLUMNS, _with_text_ts
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, audit_heads
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import json_safe

BATCH = 1000
FORMATS = ("json", "cef")
log = logging.getLogger(__name__)


def _load_cursor(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {"chains": {str(k): int(v) for k, v in data["chains"].items()},
                "offset": int(data["offset"]), "format": str(data.get("format", "json"))}
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


def _liner(fmt: str) -> Callable[[Any, str], str]:
    if fmt == "cef":
        from gateway.auditv2.cef import cef_line

        return cef_line
    if fmt == "json":
        return _line
    raise GatewayError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")


def _same_format(cursor: dict[str, Any], cursor_path: Path, fmt: str) -> None:
    """A cursor continues one stream, in one format (an older cursor has none: json)."""
    if cursor.setdefault("format", fmt) != fmt:
        raise GatewayError(f"export cursor {cursor_path} belongs to a {cursor['format']} "
                           f"stream, not {fmt}: use another cursor file for a {fmt} stream")


def _batches(catalog: Catalog, cursor: dict[str, Any],
             keep_going: Callable[[], bool] = lambda: True
             ) -> Iterator[tuple[str, list[Any]]]:
    """(chain, rows) of events past the cursor, oldest first, at most BATCH at a time; the
    in-memory cursor already counts each batch when it is handed out. Stops early when
    ``keep_going`` says so (the caller has saved the cursor of every batch it got)."""
    with catalog.read() as conn:
        names = sorted(conn.execute(select(audit_heads.c.chain)).scalars())
    for chain in names:
        while keep_going():
            after = cursor["chains"].get(chain, 0)
            with catalog.read() as conn:
                rows = conn.execute(select(audit_events).where(
                    audit_events.c.chain == chain, audit_events.c.seq > after)
                    .order_by(audit_events.c.seq).limit(BATCH)).mappings().all()
            if not rows:
                break
            cursor["chains"][chain] = rows[-1]["seq"]  # saved by the caller once written
            yield chain, rows


def export_once(catalog: Catalog, output: Path, cursor_path: Path, fmt: str = "json",
                keep_going: Callable[[], bool] = lambda: True) -> int:
    """Append every event not yet exported to the file ``output``; returns how many.

    A non-empty output without a cursor (a file the gateway wrote before its stream became
    an export, as each event committed) is adopted: kept whole, and the events stamped
    after its last change follow. ``keep_going`` is asked between batches."""
    line = _liner(fmt)
    with _turn(cursor_path):
        cursor = _load_cursor(cursor_path)
        fd = os.open(output, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            if cursor is None:
                written = datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC)
                cursor = {"chains": _heads(catalog, written) if size else {}, "offset": size,
                          "format": fmt}
                if size:
                    log.warning("audit: %s has no export cursor; keeping its %d bytes and "
                                "exporting the events after %s", output, size,
                                written.isoformat(timespec="seconds"))
                    _save_cursor(cursor_path, cursor)
            _same_format(cursor, cursor_path, fmt)
            if size < cursor["offset"]:
                raise GatewayError(f"export output {output} is shorter than its cursor "
                                   f"{cursor_path} says: it was cut or replaced; restore it")
            os.ftruncate(fd, cursor["offset"])  # lines of a run cut before it saved the cursor
            done = 0
            for chain, rows in _batches(catalog, cursor, keep_going):
                view = memoryview("".join(line(r, chain) for r in rows).encode("utf-8"))
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                cursor["offset"] = os.fstat(fd).st_size
                _save_cursor(cursor_path, cursor)
                done += len(rows)
            return done
        finally:
            os.close(fd)


def export_stream(catalog: Catalog, stream: TextIO, cursor_path: Path, fmt: str = "json", *,
                  from_start: bool = False, keep_going: Callable[[], bool] = lambda: True
                  ) -> int:
    """Write events not yet exported to ``stream`` (stdout); a new cursor starts at the
    current heads (a console is not sent the whole history), or with ``from_start`` at
    the first event. ``keep_going`` is asked between batches."""
    line = _liner(fmt)
    with _turn(cursor_path):
        cursor = _load_cursor(cursor_path)
        if cursor is None:
            cursor = {"chains": {} if from_start else _heads(catalog), "offset": 0,
                      "format": fmt}
            _save_cursor(cursor_path, cursor)
            if not from_start:
                return 0
        _same_format(cursor, cursor_path, fmt)
        done = 0
        for chain, rows in _batches(catalog, cursor, keep_going):
            stream.write("".join(line(r, chain) for r in rows))
            stream.flush()
            _save_cursor(cursor_path, cursor)
            done += len(rows)
        return done


def export_follow(catalog: Catalog, output: Path | None, cursor_path: Path, interval_s: float,
                  keep_going: Callable[[], bool] = lambda: True, fmt: str = "json", *,
                  from_start: bool = False, wait: Callable[[float], object] = time.sleep
                  ) -> None:
    """A round every ``interval_s`` seconds (``wait``) until ``keep_going`` says stop:
    ``export_once`` to the file ``output``, or ``export_stream`` to stdout (None). A
    database that cannot be reached is retried next round (said once on stderr); a
    problem with the cursor or the output ends the command."""
    failing = False
    while keep_going():
        try:
            if output is None:
                export_stream(catalog, sys.stdout, cursor_path, fmt, from_start=from_start,
                              keep_going=keep_going)
            else:
                export_once(catalog, output, cursor_path, fmt, keep_going)
            failing = False
        except DBAPIError as exc:
            if not failing:
                print(f"lumanox-gateway: audit export: the catalog failed "
                      f"({type(exc.orig).__name__}); retrying", file=sys.stderr, flush=True)
            failing = True
        if keep_going():
            wait(interval_s)


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
