"""The tenant's trash (off by default): with it on, what users delete over WebDAV or SFTP
(and ``files rm``) leaves the tree but stays D days, still counted against quota, then
the retention run purges it. Files the retention run deletes do NOT go to the trash: a
rule's limit is the limit (storage limitation), a trash would extend it by D days.

A trash item is the deleted node itself, taken out of the tree (gateway/catalog/nswrite
``to_trash``) with the path it had; ``restore`` puts it back at that path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, func, select, update

from gateway.catalog import namespace as ns, nswrite
from gateway.catalog.retention_policy import covers, hold_message, holds_of
from gateway.catalog.tables import nodes, trash_items, trash_policy
from gateway.compliance.retention import reaper
from gateway.compliance.retention.common import event, place, tenant_of, utc
from gateway.errors import AlreadyExists, LegalHold, NotADirectory, NotFound
from gateway.names import name_key

if TYPE_CHECKING:
    from gateway.admin import Tenant
    from gateway.core import Core


@dataclass(frozen=True)
class TrashItem:
    id: int
    path: str
    kind: str
    bytes: int
    deleted_at: datetime
    deleted_by: str | None


@dataclass
class PurgeReport:
    items: int = 0
    files: int = 0
    bytes: int = 0
    held: int = 0


def enable(core: Core, tenant: str, days: int) -> None:
    """Turn the trash on (or change its days); audited."""
    if days < 1:
        raise ValueError("--days must be 1 or more (to turn the trash off: `trash disable`)")
    t = tenant_of(core, tenant)
    with core.catalog.write() as conn:
        conn.execute(delete(trash_policy).where(trash_policy.c.tenant_id == t.id))
        conn.execute(trash_policy.insert().values(tenant_id=t.id, days=days,
                                                  updated_at=datetime.now(UTC)))
        core.audit.append(conn, [event(t, "trash-enable", reason=f"days={days}")])


def disable(core: Core, tenant: str) -> None:
    """Turn the trash off; refused while it holds items (restore or purge them first)."""
    t = tenant_of(core, tenant)
    with core.catalog.write() as conn:
        left = conn.execute(select(func.count()).where(trash_items.c.tenant_id == t.id)).scalar()
        if left:
            raise ValueError(f"the trash of {t.name} holds {left} items: restore or purge them "
                             f"first (`lumanox-gateway trash purge --tenant {t.name} --all`)")
        conn.execute(delete(trash_policy).where(trash_policy.c.tenant_id == t.id))
        core.audit.append(conn, [event(t, "trash-disable")])


def days_of(conn: Connection, tenant_id: str) -> int | None:
    return conn.execute(select(trash_policy.c.days).where(
        trash_policy.c.tenant_id == tenant_id)).scalar()


def due_count(conn: Connection, tenant_id: str, days: int, now: datetime) -> int:
    """Items deleted ``days`` or more before ``now``."""
    return conn.execute(select(func.count()).where(
        trash_items.c.tenant_id == tenant_id,
        trash_items.c.deleted_at <= now - timedelta(days=days))).scalar() or 0


def list_items(core: Core, tenant: str) -> list[TrashItem]:
    t = tenant_of(core, tenant)
    with core.catalog.read() as conn:
        rows = conn.execute(select(
            trash_items.c.id, trash_items.c.path, trash_items.c.kind, trash_items.c.bytes,
            trash_items.c.deleted_at, trash_items.c.deleted_by)
            .where(trash_items.c.tenant_id == t.id).order_by(trash_items.c.id)).all()
    return [TrashItem(r[0], r[1], r[2], r[3], utc(r[4]), r[5]) for r in rows]  # type: ignore[arg-type]


def restore(core: Core, tenant: str, item_id: int) -> TrashItem:
    """Put an item back at its original path (missing parent folders are created again);
    AlreadyExists if something is there now. Audited."""
    t = tenant_of(core, tenant)
    with core.catalog.write() as conn:
        ns.lock_tenant(conn, t.id)
        item = _item(conn, t, item_id)
        where = place(item.path, t.case_insensitive)
        parent = _parent_for(conn, t, where.parts)
        if ns.child(conn, t.id, parent.id, where.parts[-1], t.case_insensitive) is not None:
            raise AlreadyExists(f"{item.path} exists again: move or delete what is there now, "
                                "then restore")
        now = datetime.now(UTC)
        conn.execute(update(nodes).where(nodes.c.tenant_id == t.id, nodes.c.id == _node_id(
            conn, item_id)).values(parent_id=parent.id, name=where.parts[-1],
                                   name_key=name_key(where.parts[-1], t.case_insensitive)))
        conn.execute(delete(trash_items).where(trash_items.c.id == item_id))
        nswrite.touch(conn, parent.id, now)
        core.audit.append(conn, [event(t, "trash-restore", path=item.path, nbytes=item.bytes)])
    return item


def purge(core: Core, tenant: str, item_ids: list[int] | None = None, *,
          older_than_days: int | None = None, now: datetime | None = None) -> PurgeReport:
    """Delete items for good: ``item_ids``, or those deleted more than ``older_than_days``
    ago, or (both None) all. Items under a legal hold stay (counted, refusal audited)."""
    t = tenant_of(core, tenant)
    now = now or datetime.now(UTC)
    query = select(trash_items.c.id).where(trash_items.c.tenant_id == t.id)
    if item_ids is not None:
        query = query.where(trash_items.c.id.in_(item_ids))
    if older_than_days is not None:
        query = query.where(trash_items.c.deleted_at <= now - timedelta(days=older_than_days))
    with core.catalog.read() as conn:
        todo = list(conn.execute(query.order_by(trash_items.c.id)).scalars())
    if item_ids is not None and len(todo) != len(set(item_ids)):
        missing = sorted(set(item_ids) - set(todo))
        raise NotFound(f"no trash item {missing} in {t.name}: see "
                       f"`lumanox-gateway trash list --tenant {t.name}`")
    report = PurgeReport()
    for item_id in todo:
        _purge_one(core, t, item_id, report)
        reaper.drain(core)
    return report


def _purge_one(core: Core, t: Tenant, item_id: int, report: PurgeReport) -> None:
    with core.catalog.write() as conn:
        ns.lock_tenant(conn, t.id)
        item = _item(conn, t, item_id)
        where = place(item.path, t.case_insensitive)
        hold = next((h for h in holds_of(conn, t.id) if covers(h.path_key, where.key, True)),
                    None)
        if hold is not None:
            report.held += 1
            core.audit.append(conn, [event(t, "trash-purge", path=item.path, result="denied",
                                           reason=f"{LegalHold.reason}: "
                                                  f"{hold_message(item.path, hold)}")])
            return
        tree = ns.subtree(conn, t.id, _node_id(conn, item_id))
        files, nbytes = reaper.remove(conn, t.id, [
            (n.id, n.owner_id, n.size, n.blob_id, n.kind) for n in reversed(tree)])
        conn.execute(delete(trash_items).where(trash_items.c.id == item_id))
        core.audit.append(conn, [event(t, "trash-purge", path=item.path, nbytes=nbytes,
                                       reason=f"files={files}")])
    report.items += 1
    report.files += files
    report.bytes += nbytes


def _item(conn: Connection, t: Tenant, item_id: int) -> TrashItem:
    row = conn.execute(select(
        trash_items.c.id, trash_items.c.path, trash_items.c.kind, trash_items.c.bytes,
        trash_items.c.deleted_at, trash_items.c.deleted_by)
        .where(trash_items.c.tenant_id == t.id, trash_items.c.id == item_id)).first()
    if row is None:
        raise NotFound(f"no trash item {item_id} in {t.name}: see "
                       f"`lumanox-gateway trash list --tenant {t.name}`")
    return TrashItem(row[0], row[1], row[2], row[3], utc(row[4]), row[5])  # type: ignore[arg-type]


def _node_id(conn: Connection, item_id: int) -> int:
    return conn.execute(select(trash_items.c.node_id).where(trash_items.c.id == item_id)).scalar()


def _parent_for(conn: Connection, t: Tenant, parts: list[str]) -> ns.Node:
    """The folder an item goes back into, created again (with its parents) if gone."""
    node = ns.root(conn, t.id)
    now = datetime.now(UTC)
    for i, part in enumerate(parts[:-1]):
        found = ns.child(conn, t.id, node.id, part, t.case_insensitive)
        if found is not None and not found.is_dir:
            raise NotADirectory(f"/{'/'.join(parts[:i + 1])} is a file now: move it away, "
                                "then restore")
        if found is None:
            new_id = nswrite.insert_dir(conn, t.id, node.id, part, t.case_insensitive, None, now)
            nswrite.touch(conn, node.id, now)
            found = ns.by_id(conn, t.id, new_id)
        node = found  # type: ignore[assignment]
    return node
