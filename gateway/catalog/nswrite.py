"""Namespace writes over the ``nodes`` table; the reads are in ``namespace.py``.

Every function takes an open connection inside a write transaction that already owns the
tenant's namespace (``namespace.lock_tenant``): the caller decides the transaction and
does the checks (permissions, locks, quotas) first. Statements are the ones the Session
used when it held them; nothing here knows users' permissions or blob content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, delete, update

from gateway.catalog import properties
from gateway.catalog.db import RawSQL, db_time, run_raw
from gateway.catalog.namespace import DIR, FILE, Node, new_etag
from gateway.catalog.tables import nodes, trash_items
from gateway.names import name_key


class StoredContent(Protocol):
    """What the namespace needs of a stored blob (``blobio.BlobRecord`` is one)."""

    id: str
    size: int
    content_mac: str | None

# hot statements (every upload runs them): on the driver's cursor
_INSERT_FILE = RawSQL(
    "INSERT INTO nodes (tenant_id, parent_id, name, name_key, kind, ctime, size, blob_id, "
    "content_mac, etag, owner_id, mtime) VALUES (:tenant_id, :parent_id, :name, :name_key, "
    ":kind, :ctime, :size, :blob_id, :content_mac, :etag, :owner_id, :mtime) RETURNING id")
_UPDATE_CONTENT = RawSQL(
    "UPDATE nodes SET size = :size, blob_id = :blob_id, content_mac = :content_mac, "
    "etag = :etag, owner_id = :owner_id, mtime = :mtime WHERE id = :node")
_TOUCH = RawSQL("UPDATE nodes SET mtime = :mtime, etag = :etag WHERE id = :node")


def touch(conn: Connection, node_id: int, now: datetime) -> None:
    """A folder's content changed: new mtime and etag."""
    run_raw(conn, _TOUCH, {"node": node_id, "mtime": db_time(conn, now), "etag": new_etag()})


def insert_dir(conn: Connection, tenant_id: str, parent_id: int, name: str,
               case_insensitive: bool, owner_id: str | None, now: datetime) -> int:
    """A new empty folder; returns its node id (the parent is not touched)."""
    return conn.execute(nodes.insert().values(
        tenant_id=tenant_id, parent_id=parent_id, name=name,
        name_key=name_key(name, case_insensitive), kind=DIR, size=0,
        etag=new_etag(), owner_id=owner_id, mtime=now,
        ctime=now)).inserted_primary_key[0]


def content_values(record: StoredContent, owner_id: str | None, now: datetime) -> dict[str, Any]:
    """The node columns a new file version sets (a fresh etag)."""
    return dict(size=record.size, blob_id=record.id, content_mac=record.content_mac,
                etag=new_etag(), owner_id=owner_id, mtime=now)


def insert_file(conn: Connection, tenant_id: str, parent_id: int, name: str,
                case_insensitive: bool, values: dict[str, Any], now: datetime) -> int:
    """A new file node with ``content_values``; touches the parent; returns the node id."""
    row = run_raw(conn, _INSERT_FILE, {
        "tenant_id": tenant_id, "parent_id": parent_id, "name": name,
        "name_key": name_key(name, case_insensitive), "kind": FILE,
        "ctime": db_time(conn, now), **values,
        "mtime": db_time(conn, values["mtime"])}).fetchone()
    touch(conn, parent_id, now)
    return int(row[0])


def update_content(conn: Connection, node_id: int, values: dict[str, Any]) -> None:
    """Switch an existing file node to a new version (``content_values``)."""
    run_raw(conn, _UPDATE_CONTENT, {"node": node_id, **values,
                                    "mtime": db_time(conn, values["mtime"])})


def delete_nodes(conn: Connection, tenant_id: str, tree: list[Node]) -> None:
    """Delete the nodes of a subtree (parents first in ``tree``; deleted children first)."""
    for n in reversed(tree):
        conn.execute(delete(nodes).where(nodes.c.tenant_id == tenant_id, nodes.c.id == n.id))


def move_node(conn: Connection, node: Node, parent_id: int, name: str,
              case_insensitive: bool, now: datetime) -> None:
    """Re-parent and/or rename a node (its subtree follows); touches both folders."""
    conn.execute(update(nodes).where(nodes.c.id == node.id).values(
        parent_id=parent_id, name=name,
        name_key=name_key(name, case_insensitive), ctime=now))
    touch(conn, parent_id, now)
    if node.parent_id != parent_id:
        touch(conn, node.parent_id, now)  # type: ignore[arg-type]


def clone(conn: Connection, tenant_id: str, source: list[Node], parent_id: int, name: str,
          case_insensitive: bool, owner_id: str | None, now: datetime) -> int:
    """Copy the nodes of ``source`` (parents first) under ``parent_id`` as ``name``,
    sharing their blobs and copying their dead properties; returns the new top's id."""
    id_map: dict[int, int] = {}
    for i, n in enumerate(source):  # parents come before children
        top = i == 0
        new_id = conn.execute(nodes.insert().values(
            tenant_id=tenant_id, parent_id=parent_id if top else id_map[n.parent_id],
            name=name if top else n.name,
            name_key=name_key(name if top else n.name, case_insensitive), kind=n.kind,
            size=n.size, blob_id=n.blob_id, content_mac=n.content_mac, etag=new_etag(),
            owner_id=owner_id, mtime=n.mtime, ctime=now)).inserted_primary_key[0]
        id_map[n.id] = new_id
    properties.copy_nodes(conn, tenant_id, id_map)  # a copy keeps dead properties
    touch(conn, parent_id, now)
    return id_map[source[0].id]


def set_mtime(conn: Connection, node_id: int, mtime: datetime) -> None:
    """Set a node's modification time (a new etag)."""
    conn.execute(update(nodes).where(nodes.c.id == node_id).values(
        mtime=mtime.astimezone(UTC), etag=new_etag()))


def to_trash(conn: Connection, tenant_id: str, node: Node, path: str, key: str, nbytes: int,
             by: str | None, now: datetime) -> int:
    """Take a node (and its subtree) out of the tree into the tenant's trash: no parent,
    so no path reaches it, but its rows, blobs and quota stay; returns the trash item id.
    (The parent is not touched.)"""
    conn.execute(update(nodes).where(nodes.c.tenant_id == tenant_id, nodes.c.id == node.id)
                 .values(parent_id=None, name_key=f"~trash~{node.id}", ctime=now))
    return conn.execute(trash_items.insert().values(
        tenant_id=tenant_id, node_id=node.id, path=path, path_key=key, kind=node.kind,
        bytes=nbytes, deleted_at=now, deleted_by=by)).inserted_primary_key[0]
