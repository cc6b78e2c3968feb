"""The audit trail as a feed for a SIEM: pages of events after an opaque cursor, each
event exactly once per cursor the client keeps, with an optional long poll.

The cursor is the export's (gateway/auditv2/export.py): per chain, the last sequence
number handed out. Per chain, the events a reader sees are always a prefix (appends hold
the chain head's lock until they commit), so "seq past the cursor" never skips an event
that commits later, and a cursor never hands an event out twice. A chain's head is read
before its events: when a page of a chain ends before its head (the filters matched
nothing more), the cursor moves to the head, so a filtered poll does not rescan.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, select

from gateway.admin_api.calls import ApiError
from gateway.audit import EXPORT_COLUMNS
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, audit_heads

MAX_WAIT_S = 60
POLL_S = 0.5
ev = audit_events.c


def encode(chains: dict[str, int]) -> str:
    raw = json.dumps({"c": chains}, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        chains = {str(k): int(v) for k, v in data["c"].items()}
        if any(v < 0 for v in chains.values()):
            raise ValueError
        return chains
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ApiError(400, "bad_cursor", "the cursor is not one this API gave out: start "
                       "again without `cursor` (from the first event)") from None


def read_page(catalog: Catalog, cursor: dict[str, int], where: list[ColumnElement[bool]],
              limit: int) -> tuple[list[tuple[str, Any]], dict[str, int], bool]:
    """(chain, row) pairs past ``cursor`` matching ``where``, at most ``limit``, chains in
    name order and each in sequence order; the advanced cursor; whether more may follow."""
    cursor = dict(cursor)
    out: list[tuple[str, Any]] = []
    with catalog.read() as conn:
        heads = dict(conn.execute(select(audit_heads.c.chain, audit_heads.c.seq)).all())
    for chain in sorted(heads):
        after, head = cursor.get(chain, 0), int(heads[chain])
        if after >= head:
            continue
        left = limit - len(out)
        if left <= 0:
            return out, cursor, True
        with catalog.read() as conn:
            rows = conn.execute(select(audit_events).where(
                ev.chain == chain, ev.seq > after, ev.seq <= head, and_(*where))
                .order_by(ev.seq).limit(left)).mappings().all()
        out += [(chain, r) for r in rows]
        if len(rows) == left:
            cursor[chain] = rows[-1]["seq"]
            if rows[-1]["seq"] < head:
                return out, cursor, True
        else:
            cursor[chain] = head
    return out, cursor, False


def poll(catalog: Catalog, cursor: dict[str, int], where: list[ColumnElement[bool]],
         limit: int, wait_s: float, flush: Callable[[], None] = lambda: None,
         sleep: Callable[[float], None] = time.sleep
         ) -> tuple[list[tuple[str, Any]], dict[str, int], bool]:
    """``read_page``, repeated every ``POLL_S`` for up to ``wait_s`` seconds while it
    finds nothing (a long poll)."""
    deadline = time.monotonic() + wait_s
    while True:
        flush()
        rows, new, more = read_page(catalog, cursor, where, limit)
        left = deadline - time.monotonic()
        if rows or left <= 0:
            return rows, new, more
        cursor = new  # heads passed with nothing matching: not looked at again
        sleep(min(POLL_S, left))


def item(chain: str, row: Any) -> dict[str, Any]:
    return {**{k: row[k] for k in EXPORT_COLUMNS}, "chain": chain, "hash": row["hash"]}
