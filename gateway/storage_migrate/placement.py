"""A tenant's placement: the store taking its new blobs, the regions it allows, and where
its data lives now (``tenant set --store/--regions``, ``tenant show``).

The placement is kept in the tenant's ``settings`` JSON under ``"storage"`` (read at login
into the principal, so a write costs no extra statement). Setting a store outside the
allowed regions, or regions that exclude the chosen store, is refused and audited.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from gateway import actor
from gateway.audit import AuditEvent
from gateway.backends.stores import DEFAULT, Placement, ResidencyRefused, placement_of
from gateway.catalog.tables import blobs, tenants
from gateway.errors import NotFound
from gateway.policy.logins import canonical_name

if TYPE_CHECKING:
    from gateway.core import Core


def tenant_row(conn: Any, name: str) -> Any:
    row = conn.execute(select(tenants.c.id, tenants.c.name, tenants.c.settings)
                       .where(tenants.c.name == (canonical_name(name) or name))).first()
    if row is None:
        raise NotFound(f"no tenant {name!r}: see `lumanox-gateway tenant list`")
    return row


def audit(core: Core, conn: Any, tenant_id: str, tenant: str, action: str, *,
          result: str = "ok", reason: str | None = None, nbytes: int | None = None,
          path: str | None = None) -> None:
    """Append an admin event in ``conn`` (``None``: stored at once, for refusals)."""
    who = actor.current()
    ev = AuditEvent(action=action, protocol=who.protocol, result=result, chain=tenant_id,
                    tenant=tenant, user=who.user, remote_addr=who.remote_addr, path=path,
                    bytes=nbytes, reason=reason)
    if conn is None:
        core.audit.write_now([ev])
    else:
        core.audit.append(conn, [ev])


def set_placement(core: Core, tenant: str, *, store: str | None = None,
                  regions: list[str] | None = None) -> dict[str, Any]:
    """Change where a tenant's new blobs go and which regions it allows (``[]``: any).
    Refused (and audited) when the resulting store lies outside the regions."""
    refused: tuple[Any, ResidencyRefused] | None = None
    with core.catalog.write() as conn:
        row = tenant_row(conn, tenant)
        settings = json.loads(row.settings)
        old = placement_of(settings)
        new = Placement(store or old.store,
                        old.regions if regions is None else tuple(r for r in regions if r))
        try:
            core.stores.check_residency(new)
        except ResidencyRefused as exc:
            refused = (row, exc)
    if refused is not None:  # audited once the write transaction is over
        row, exc = refused
        audit(core, None, row.id, row.name, "tenant-placement", result="denied",
              reason=str(exc))
        raise exc
    with core.catalog.write() as conn:
        settings["storage"] = {"store": new.store, "regions": list(new.regions)}
        conn.execute(update(tenants).where(tenants.c.id == row.id)
                     .values(settings=json.dumps(settings)))
        audit(core, conn, row.id, row.name, "tenant-placement",
              reason=f"store {new.store}; regions {','.join(new.regions) or 'any'}")
    return show_placement(core, tenant)


def show_placement(core: Core, tenant: str) -> dict[str, Any]:
    """The tenant's placement and where its data lives: per store, its region, file
    count and bytes (small files kept in the catalog are listed as store ``catalog``)."""
    with core.catalog.read() as conn:
        row = tenant_row(conn, tenant)
        inline = blobs.c.inline_data.is_not(None)
        rows = conn.execute(
            select(blobs.c.store, inline.label("inline"), func.count(), func.sum(blobs.c.size))
            .where(blobs.c.tenant_id == row.id).group_by(blobs.c.store, inline)).all()
    p = placement_of(row.settings)
    where: dict[str, dict[str, Any]] = {}
    for store, is_inline, count, size in rows:
        name = "catalog" if is_inline else store
        try:
            region = "catalog" if is_inline else core.stores.region(store)
        except Exception:  # a store no longer configured: say so rather than fail
            region = "unconfigured"
        entry = where.setdefault(name, {"store": name, "region": region, "files": 0,
                                        "bytes": 0})
        entry["files"] += int(count)
        entry["bytes"] += int(size or 0)
    outside = sorted(n for n, e in where.items()
                     if n != "catalog" and not p.allows(e["region"]))
    return {"tenant": row.name, "store": p.store, "regions": list(p.regions),
            "store_region": core.stores.region(p.store) if p.store in core.stores.names()
            else "unconfigured", "placement": sorted(where.values(), key=lambda e: e["store"]),
            "outside_regions": outside, "default_store": DEFAULT}
