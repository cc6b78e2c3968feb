"""Legal holds: nothing under a held tenant or folder is deleted by anyone until the hold is
released (user DELETE/rm, a move away or over it, an overwrite, retention, trash purge,
subject erasure). The core refuses with ``LegalHold`` (a ``PermissionDenied``: WebDAV 403,
SFTP permission denied), audited with the hold in the reason; other deleters call
``check_not_held`` before they delete.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, select

from gateway.catalog import Catalog
from gateway.catalog.retention_policy import Hold, covers, hold_message, holds_of
from gateway.catalog.tables import legal_holds, tenants
from gateway.compliance.retention.common import event, place, tenant_of
from gateway.errors import LegalHold, NotFound

if TYPE_CHECKING:
    from gateway.core import Core

__all__ = ["HoldInfo", "LegalHold", "check_not_held", "held_paths", "list_holds",
           "release_hold", "set_hold"]


@dataclass(frozen=True)
class HoldInfo:
    id: str
    tenant: str
    path: str
    reason: str
    created_at: datetime


def set_hold(core: Core, tenant: str, path: str | None, reason: str) -> HoldInfo:
    """Place a hold on a folder or file ("/" or None: the whole tenant); audited."""
    t = tenant_of(core, tenant)
    if not reason or not reason.strip():
        raise ValueError("a legal hold needs --reason \"...\" (the case or request it serves)")
    where = place(path, t.case_insensitive)
    info = HoldInfo(secrets.token_hex(4), t.name, where.path, reason.strip(),
                    datetime.now(UTC))
    with core.catalog.write() as conn:
        conn.execute(legal_holds.insert().values(
            id=info.id, tenant_id=t.id, path=info.path, path_key=where.key,
            reason=info.reason, created_at=info.created_at))
        core.audit.append(conn, [event(t, "hold-set", path=info.path,
                                       reason=f"hold {info.id}: {info.reason}")])
    return info


def release_hold(core: Core, tenant: str, hold_id: str) -> None:
    """Release one hold by its id; audited."""
    t = tenant_of(core, tenant)
    with core.catalog.write() as conn:
        row = conn.execute(select(legal_holds.c.path).where(
            legal_holds.c.tenant_id == t.id, legal_holds.c.id == hold_id)).first()
        if row is None:
            raise NotFound(f"no legal hold {hold_id!r} on {t.name}: see "
                           f"`lumanox-gateway hold list --tenant {t.name}`")
        conn.execute(delete(legal_holds).where(legal_holds.c.id == hold_id))
        core.audit.append(conn, [event(t, "hold-release", path=row.path,
                                       reason=f"hold {hold_id}")])


def list_holds(core: Core, tenant: str | None = None) -> list[HoldInfo]:
    query = select(legal_holds.c.id, tenants.c.name, legal_holds.c.path, legal_holds.c.reason,
                   legal_holds.c.created_at).join(tenants, tenants.c.id == legal_holds.c.tenant_id)
    if tenant is not None:
        query = query.where(legal_holds.c.tenant_id == tenant_of(core, tenant).id)
    with core.catalog.read() as conn:
        return [HoldInfo(*r) for r in conn.execute(
            query.order_by(tenants.c.name, legal_holds.c.created_at))]


def held_paths(conn: Connection, tenant_id: str) -> list[Hold]:
    """The tenant's holds (id, path, path key, reason)."""
    return holds_of(conn, tenant_id)


def check_not_held(catalog_or_conn: Catalog | Connection, tenant_id: str,
                   paths: Iterable[str], *, subtree: bool = True) -> None:
    """Raise ``LegalHold`` (naming the hold) if a hold covers any of ``paths`` or, with
    ``subtree`` (folders and everything in them), lies inside one of them."""
    if isinstance(catalog_or_conn, Catalog):
        with catalog_or_conn.read() as conn:
            check_not_held(conn, tenant_id, paths, subtree=subtree)
        return
    conn = catalog_or_conn
    ci = conn.execute(select(tenants.c.case_insensitive).where(tenants.c.id == tenant_id)
                      ).scalar()
    holds = holds_of(conn, tenant_id)
    for p in paths:
        where = place(p, bool(ci))
        for h in holds:
            if covers(h.path_key, where.key, subtree):
                raise LegalHold(hold_message(where.path, h))
