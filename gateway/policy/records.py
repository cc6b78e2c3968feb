"""Small catalog lookups shared by the policy modules."""

from __future__ import annotations

from sqlalchemy import select

from gateway.catalog.tables import tenants, users
from gateway.core import Core
from gateway.errors import NotFound
from gateway.policy.logins import canonical_name


def user_ids(core: Core, tenant_name: str, user_name: str) -> tuple[str, str]:
    """(tenant id, user id) of USER@TENANT, or NotFound naming the fix."""
    user_name = canonical_name(user_name) or user_name
    with core.catalog.read() as conn:
        row = conn.execute(
            select(tenants.c.id, users.c.id.label("uid"))
            .select_from(users.join(tenants, users.c.tenant_id == tenants.c.id))
            .where(tenants.c.name == tenant_name, users.c.name == user_name)).first()
    if row is None:
        raise NotFound(f"no user {user_name}@{tenant_name}: see `lumanox-gateway user list "
                       f"{tenant_name}`")
    return row.id, row.uid
