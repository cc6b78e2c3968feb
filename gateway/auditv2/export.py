"""``audit export``: the catalog's events as JSON lines, exactly once, resumable.

The cursor file records, per chain, the last exported sequence number, and the size of
the output file after the last exported line. Per chain, the events visible to a reader
are always a prefix (appends hold the chain head's lock until they commit), so "seq
greater than the cursor" never skips an event that commits later. The output is written
and synced first, the cursor (atomically replaced) second; a run that finds the output
longer than the cursor says (a crash between the two) cuts it back before continuing, so
every event is in the file exactly once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway.audit import EXPORT_COLUMNS, _with_text_ts
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, audit_heads
from gateway.errors import GatewayError
from gateway.textout import json_safe

BATCH = 1000


def _load_cursor(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {"chains": {str(k): int(v) for k, v in data["chains"].items()},
                "offset": int(data["offset"])}
    except FileNotFoundError:
        return {"chains": {}, "offset": 0}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise GatewayError(f"export cursor {path} is unreadable: restore it, or delete it "
                           "and the output file to export everything again") from None


def _save_cursor(path: Path, cursor: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(cursor, sort_keys=True), encoding="utf-8")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _line(row: Any, chain: str) -> str:
    data = _with_text_ts({k: row[k] for k in EXPORT_COLUMNS})
    data["chain"] = chain
    return json_safe(json.dumps(data, ensure_ascii=False)) + "\n"


def export_once(catalog: Catalog, output: Path, cursor_path: Path) -> int:
    """Append every event not yet exported to ``output``; returns how many."""
    cursor = _load_cursor(cursor_path)
    done = 0
    fd = os.open(output, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size < cursor["offset"]:
            raise GatewayError(f"export output {output} is shorter than its cursor "
                               f"{cursor_path} says: it was cut or replaced; restore it")
        os.ftruncate(fd, cursor["offset"])  # lines of a run cut before it saved the cursor
        os.lseek(fd, cursor["offset"], os.SEEK_SET)
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
                data = "".join(_line(r, chain) for r in rows).encode("utf-8")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                cursor["chains"][chain] = rows[-1]["seq"]
                cursor["offset"] = os.lseek(fd, 0, os.SEEK_CUR)
                _save_cursor(cursor_path, cursor)
                done += len(rows)
    finally:
        os.close(fd)
    return done


def export_follow(catalog: Catalog, output: Path, cursor_path: Path, interval_s: float,
                  keep_going: Callable[[], bool] = lambda: True) -> None:
    """``export_once`` every ``interval_s`` seconds until ``keep_going`` says stop."""
    while keep_going():
        export_once(catalog, output, cursor_path)
        time.sleep(interval_s)
