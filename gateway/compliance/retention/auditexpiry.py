"""Audit retention: "keep audit events M days" expires the PERSONAL fields of older events
(user, address, paths, reason) by audit v2 erasure, not the events themselves.

The values and their salts are removed; each event's commitments, action, time, result and
byte counts stay, so every event MAC and the chain still verify (``audit verify``, the
signed checkpoint) and the trail still proves that an operation happened and when, without
identifying anyone. Deleting whole events would need the verifier to accept a pruned
chain start; keeping the skeletons keeps one verifier and no trust anchor to manage.
Events from before audit v2 (format 1) are left as they are (counted); ``audit erase``
handles them per person.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from gateway.auditv2.chain import FORMAT_V2, PERSONAL
from gateway.catalog.tables import audit_events
from gateway.compliance.retention.common import event

if TYPE_CHECKING:
    from gateway.admin import Tenant
    from gateway.core import Core

_BATCH = 1000


def expire(core: Core, t: Tenant, days: int, now: datetime, *, dry_run: bool = False
           ) -> tuple[int, int]:
    """Erase the personal fields of ``t``'s v2 events older than ``days``; returns (erased,
    v1 events left). One transaction per batch, the last one audited with the total."""
    cutoff = now - timedelta(days=days)
    old = (audit_events.c.chain == t.id) & (audit_events.c.ts < cutoff)
    todo = old & (audit_events.c.format == FORMAT_V2) & audit_events.c.salts.is_not(None)
    with core.catalog.read() as conn:
        v1_left = conn.execute(select(func.count()).where(
            old, audit_events.c.format != FORMAT_V2)).scalar() or 0
        if dry_run:
            return conn.execute(select(func.count()).where(todo)).scalar() or 0, v1_left
    erased = 0
    while True:
        with core.catalog.write() as conn:
            ids = list(conn.execute(select(audit_events.c.id).where(todo)
                                    .order_by(audit_events.c.id).limit(_BATCH)).scalars())
            if ids:
                conn.execute(update(audit_events).where(audit_events.c.id.in_(ids)).values(
                    salts=None, **{f: None for f in PERSONAL}))
                erased += len(ids)
            if len(ids) < _BATCH:
                if erased:
                    core.audit.append(conn, [event(t, "retention-audit", reason=(
                        f"erased personal fields of {erased} events older than {days} days "
                        f"(before {cutoff.isoformat(timespec='seconds')})"))])
                return erased, v1_left
