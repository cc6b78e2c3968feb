"""The events of a scope in time order, read in keyset-paginated batches.

Each batch is one short read transaction: ``WHERE <scope> AND (ts, id) > (last ts, last
id) ORDER BY ts, id LIMIT n``, written as ``ts >= :ts AND (ts > :ts OR id > :id)`` so that
the ``(tenant, ts)`` index serves both the range and the order (SQLite keeps the row id in
every index; PostgreSQL sorts only the ties). Memory stays at one batch however long the
period is, on every database (no driver buffers a whole result), and a batch never
re-reads the rows before it, so a year of a busy tenant costs one pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from gateway.audit import EXPORT_COLUMNS
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.compliance.reports.scope import Scope, conditions

ev = audit_events.c
BATCH = 2000
_COLUMNS = [ev.id, *(ev[c] for c in EXPORT_COLUMNS)]


def aware(ts: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite returns naive UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def iter_events(catalog: Catalog, scope: Scope, *, action: str | None = None,
                extra: ColumnElement[bool] | None = None, limit: int | None = None,
                batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Events of ``scope`` (``action``, ``extra`` narrow further) oldest first, as dicts
    with the audit export's columns (``ts`` an aware UTC datetime); at most ``limit``."""
    where = conditions(scope, action=action)
    if extra is not None:
        where = and_(where, extra)
    after: tuple[datetime, int] | None = None
    left = limit
    while left is None or left > 0:
        size = batch if left is None else min(batch, left)
        q = select(*_COLUMNS).where(where)
        if after is not None:
            ts, row_id = after
            q = q.where(and_(ev.ts >= ts, or_(ev.ts > ts, ev.id > row_id)))
        q = q.order_by(ev.ts, ev.id).limit(size)
        with catalog.read() as conn:
            rows = conn.execute(q).all()
        for row in rows:
            data = dict(zip(EXPORT_COLUMNS, row[1:], strict=True))
            data["ts"] = aware(data["ts"])
            yield data
        if len(rows) < size:
            return
        after = (rows[-1].ts, rows[-1].id)
        if left is not None:
            left -= len(rows)


def count_events(catalog: Catalog, scope: Scope, *, action: str | None = None,
                 extra: ColumnElement[bool] | None = None) -> int:
    """How many events ``iter_events`` would yield with the same arguments."""
    where = conditions(scope, action=action)
    if extra is not None:
        where = and_(where, extra)
    with catalog.read() as conn:
        return int(conn.execute(select(func.count()).where(where)).scalar() or 0)
