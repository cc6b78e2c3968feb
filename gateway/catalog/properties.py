"""WebDAV dead properties in the catalog (``dav_props``), attached to nodes.

Properties belong to the node, not to a path: a move keeps them (the node moves), a delete
drops them (foreign key ``ON DELETE CASCADE``), a copy duplicates them (``copy_nodes``,
inside ``Session.copy``'s transaction). Names are Clark notation (``{namespace}local``),
values the property's XML as text. Functions take an open connection; the caller decides
the transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from gateway.catalog.tables import dav_props, nodes

MAX_NAME_CHARS = 512
MAX_VALUE_CHARS = 64 * 1024


def of_node(conn: Connection, tenant_id: str, node_id: int) -> dict[str, str]:
    rows = conn.execute(select(dav_props.c.name, dav_props.c.value).where(
        dav_props.c.tenant_id == tenant_id, dav_props.c.node_id == node_id))
    return {r.name: r.value for r in rows}


def of_children(conn: Connection, tenant_id: str, parent_id: int) -> dict[str, dict[str, str]]:
    """Properties of a folder's children that have any, keyed by child name (one query)."""
    rows = conn.execute(
        select(nodes.c.name, dav_props.c.name.label("prop"), dav_props.c.value)
        .select_from(dav_props.join(nodes, (nodes.c.tenant_id == dav_props.c.tenant_id)
                                    & (nodes.c.id == dav_props.c.node_id)))
        .where(nodes.c.tenant_id == tenant_id, nodes.c.parent_id == parent_id))
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r.name, {})[r.prop] = r.value
    return out


def apply(conn: Connection, tenant_id: str, node_id: int,
          changes: dict[str, str | None]) -> None:
    """Set (value) or remove (None) properties of one node."""
    for name, value in changes.items():
        conn.execute(delete(dav_props).where(
            dav_props.c.tenant_id == tenant_id, dav_props.c.node_id == node_id,
            dav_props.c.name == name))
        if value is not None:
            conn.execute(dav_props.insert().values(
                tenant_id=tenant_id, node_id=node_id, name=name, value=value))


def copy_nodes(conn: Connection, tenant_id: str, id_map: dict[int, int]) -> None:
    """Copy the properties of copied nodes (old node id -> new node id), in bulk."""
    ids = list(id_map)
    for start in range(0, len(ids), 500):
        rows = conn.execute(select(dav_props.c.node_id, dav_props.c.name, dav_props.c.value)
                            .where(dav_props.c.tenant_id == tenant_id,
                                   dav_props.c.node_id.in_(ids[start:start + 500]))).all()
        if rows:
            conn.execute(dav_props.insert(), [
                {"tenant_id": tenant_id, "node_id": id_map[r.node_id], "name": r.name,
                 "value": r.value} for r in rows])
