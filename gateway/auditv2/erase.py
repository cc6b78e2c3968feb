"""Erasure of one person's identifiers from the audit trail, keeping the chain verifiable.

``erase_subject`` clears the personal values (user, remote address, paths) and their salts
of every event of one user of one tenant; the commitments stay, so each event's MAC still
verifies, and without the salt a value cannot be confirmed by guessing. On SQLite,
``secure_delete`` overwrites the freed bytes and the WAL is checkpointed and truncated, so
the values are gone from the database files too. The erasure itself is audited with the
categories and counts it erased, never the values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from gateway.audit import AuditEvent
from gateway.auditv2.chain import FORMAT_V1, PERSONAL, dumps, loads
from gateway.catalog.tables import audit_events, tenants
from gateway.errors import GatewayError
from gateway.policy.logins import canonical_name

if TYPE_CHECKING:
    from gateway.core import Core


def erase_subject(core: Core, tenant: str, user: str) -> dict[str, int]:
    """Erase every personal field of ``user``'s events in ``tenant``; returns counts per
    category (``events`` and one per personal field). Events still in v1 format (before
    migration 0006) cannot be erased without breaking their plain hashes: refused."""
    name = canonical_name(user) or user
    with core.catalog.write() as conn:
        tid = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar()
        if tid is None:
            raise GatewayError(f"no tenant {tenant!r}: see `lumanox-gateway tenant list`")
        mine = (audit_events.c.chain == tid) & (audit_events.c.user == name)
        if conn.execute(select(func.count()).where(mine, audit_events.c.format == FORMAT_V1)
                        ).scalar():
            raise GatewayError(f"user {name!r} has audit events from before audit v2 "
                               "(plain hashes): they cannot be erased without breaking "
                               "the chain")
        counts = {f: conn.execute(select(func.count()).where(
            mine, audit_events.c[f].is_not(None))).scalar() or 0 for f in PERSONAL}
        counts = {"events": counts["user"], **counts}
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        conn.execute(update(audit_events).where(mine).values(
            salts=None, **{f: None for f in PERSONAL}))
        # administrators' events about the account (user-create, user-delete ...) name it
        named = (audit_events.c.chain == tid) & (audit_events.c.protocol == "admin") & \
            (audit_events.c.path == name)
        rows = conn.execute(select(audit_events.c.id, audit_events.c.salts).where(named)).all()
        for row in rows:
            salts = loads(row.salts)
            salts.pop("path", None)
            conn.execute(update(audit_events).where(audit_events.c.id == row.id)
                         .values(path=None, salts=dumps(salts)))
        counts["admin_events_naming_user"] = len(rows)
        summary = ", ".join(f"{k}={v}" for k, v in counts.items())
        core.audit.append(conn, [AuditEvent(
            action="audit-erase", protocol="admin", chain=tid, tenant=tenant,
            reason=f"erased personal fields of one user's events: {summary}")])
    if core.catalog.is_sqlite:  # the old row versions in the WAL: copied back and cut off
        with core.catalog.engine.connect() as raw:
            raw.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts
