"""Erasure of one person's identifiers from the audit trail, keeping the chain verifiable.

``erase_subject`` clears the personal values (user, remote address, paths) and their salts
of every event of one user of one tenant; the commitments stay, so each event's MAC still
verifies, and without the salt a value cannot be confirmed by guessing. On SQLite,
``secure_delete`` overwrites the freed bytes and the WAL is checkpointed and truncated, so
the values are gone from the database files too. The erasure itself is audited with the
categories and counts it erased, never the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update

from gateway.actor import ADMIN_PROTOCOLS
from gateway.audit import AuditEvent
from gateway.auditv2.chain import (
    FORMAT_V1,
    PERSONAL,
    V1_ERASED,
    dumps,
    loads,
    v1_erasure_mac,
)
from gateway.auditv2.verify import verify_chain
from gateway.catalog.tables import audit_events, tenants
from gateway.errors import GatewayError
from gateway.policy.logins import canonical_name

if TYPE_CHECKING:
    from gateway.core import Core


def erase_subject(core: Core, tenant: str, user: str) -> dict[str, int]:
    """Erase every personal field of ``user``'s events in ``tenant``; returns counts per
    category (``events`` and one per personal field). Events from before audit v2 (plain
    v1 hashes) are erased too once their chain is sealed and verifies: each keeps its
    stored hash and gets an erasure MAC under the audit key in place of the recomputation."""
    name = canonical_name(user) or user
    key = core.audit.key
    with core.catalog.write() as conn:
        tid = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar()
        if tid is None:
            raise GatewayError(f"no tenant {tenant!r}: see `lumanox-gateway tenant list`")
        mine = (audit_events.c.chain == tid) & (audit_events.c.user == name)
        # administrators' events about the account (user-create, user-delete ...) name it
        named = (audit_events.c.chain == tid) & audit_events.c.protocol.in_(ADMIN_PROTOCOLS) & \
            (audit_events.c.path == name)
        v1 = audit_events.c.format == FORMAT_V1
        if conn.execute(select(func.count()).where(mine | named, v1)).scalar():
            _require_intact(conn, tid, key)
        counts = {f: conn.execute(select(func.count()).where(
            mine, audit_events.c[f].is_not(None))).scalar() or 0 for f in PERSONAL}
        counts = {"events": counts["user"], **counts}
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        for row in conn.execute(select(audit_events).where(mine, v1)).mappings().all():
            _erase_v1(conn, key, row, PERSONAL)
        conn.execute(update(audit_events).where(mine, ~v1).values(
            salts=None, **{f: None for f in PERSONAL}))
        rows = conn.execute(select(audit_events).where(named)).mappings().all()
        for row in rows:
            if row["format"] == FORMAT_V1:
                _erase_v1(conn, key, row, ("path",))
                continue
            salts = loads(row["salts"])
            salts.pop("path", None)
            conn.execute(update(audit_events).where(audit_events.c.id == row["id"])
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


def _require_intact(conn: Connection, chain: str, key: bytes) -> None:
    """Erasing v1 events replaces their recomputable hashes by MACs: only over a chain
    that verifies now, so no earlier tampering is laundered by the erasure."""
    problem = verify_chain(conn, chain, key)
    if problem is not None:
        raise GatewayError(f"the audit chain does not verify (event {problem.seq}: "
                           f"{problem.kind}, {problem.detail}); run `lumanox-gateway audit "
                           "verify` and resolve that before erasing")


def _erase_v1(conn: Connection, key: bytes, row: Mapping[str, Any],
              fields: tuple[str, ...]) -> None:
    left = {**row, **{f: None for f in fields}}
    conn.execute(update(audit_events).where(audit_events.c.id == row["id"]).values(
        commitments=dumps({V1_ERASED: v1_erasure_mac(key, left)}), **{f: None for f in fields}))
