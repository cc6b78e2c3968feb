"""Admin view of WebDAV locks: list them and break them (every break is audited).

A lock stays until its owner unlocks it or it expires (``webdav.max_lock_timeout_s``);
an admin breaks one that blocks people (a crashed client's depth-infinity lock on a
tenant's root, say) by token, or every lock of a tenant (optionally under one path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from sqlalchemy import Connection, delete, select

from gateway import actor
from gateway.audit import AuditEvent
from gateway.catalog import locks as store
from gateway.catalog.tables import dav_locks, tenants
from gateway.core import Core
from gateway.errors import NotFound
from gateway.names import split_path


@dataclass(frozen=True)
class LockInfo:
    token: str
    tenant: str
    path: str  # as the lock is keyed: names folded on case-insensitive tenants
    depth: str
    scope: str
    principal: str
    owner: str
    expires_at: datetime


def _query(tenant: str | None, token: str | None = None):  # type: ignore[no-untyped-def]
    q = select(dav_locks, tenants.c.name.label("tenant_name"),
               tenants.c.case_insensitive).join(
        tenants, tenants.c.id == dav_locks.c.tenant_id).where(
        dav_locks.c.expires_at > datetime.fromtimestamp(time.time(), UTC))
    if tenant is not None:
        q = q.where(tenants.c.name == tenant)
    if token is not None:
        q = q.where(dav_locks.c.token == token)
    return q.order_by(tenants.c.name, dav_locks.c.root)


def _info(row) -> LockInfo:  # type: ignore[no-untyped-def]
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    return LockInfo(row.token, row.tenant_name, unquote(row.root) or "/", row.depth,
                    row.scope, row.principal or "", row.owner or "", expires)


def _known_tenant(conn: Connection, tenant: str) -> None:
    if conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).first() is None:
        raise NotFound(f"no tenant {tenant!r}: see `lumanox-gateway tenant list`")


def list_locks(core: Core, tenant: str | None = None) -> list[LockInfo]:
    """Every unexpired lock (of one tenant), ordered by tenant and path."""
    with core.catalog.read() as conn:
        if tenant is not None:
            _known_tenant(conn, tenant)
        return [_info(r) for r in conn.execute(_query(tenant))]


def _audit_break(core: Core, conn: Connection, row, reason: str) -> None:  # type: ignore[no-untyped-def]
    who = actor.current()
    ev = AuditEvent(action="lock-break", protocol=who.protocol, chain=row.tenant_id,
                    tenant=row.tenant_name, user=who.user, remote_addr=who.remote_addr,
                    path=unquote(row.root) or "/",
                    reason=f"{reason}; held by {row.principal or 'unknown'}, "
                           f"{row.scope} depth={row.depth}")
    core.audit.append(conn, [ev])


def break_lock(core: Core, token: str) -> LockInfo:
    """Remove one lock by token (NotFound if no such unexpired lock)."""
    with core.catalog.write() as conn:
        row = conn.execute(_query(None, token)).first()
        if row is None:
            raise NotFound("no such lock (expired or wrong token): see `lumanox-gateway "
                           "locks list`")
        store.delete_token(conn, row.tenant_id, token)
        _audit_break(core, conn, row, "broken by token")
    return _info(row)


def break_tenant_locks(core: Core, tenant: str, path: str | None = None) -> list[LockInfo]:
    """Remove every lock of a tenant, or those on ``path`` and below; each is audited."""
    with core.catalog.write() as conn:
        _known_tenant(conn, tenant)
        rows = conn.execute(_query(tenant)).all()
        if path is not None:
            ci = bool(rows[0].case_insensitive) if rows else True
            key = store.lock_key(split_path(path), ci)
            rows = [r for r in rows
                    if key == "/" or r.root == key or r.root.startswith(key + "/")]
        for row in rows:
            conn.execute(delete(dav_locks).where(dav_locks.c.token == row.token))
            _audit_break(core, conn, row, "broken with the tenant's locks"
                         + (f" under {path}" if path else ""))
    return [_info(r) for r in rows]
