"""Namespace queries over the ``nodes`` table. Every query is scoped by tenant id.

Functions take an open connection so the caller decides the transaction. Paths arrive
already split and validated (``gateway.names``); resolution walks from the tenant's root
one component at a time through the unique index ``(tenant_id, parent_id, name_key)``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Connection, and_, literal, select

from gateway.catalog.db import RawSQL, run_raw
from gateway.catalog.tables import nodes
from gateway.errors import NotADirectory, NotFound
from gateway.names import name_key

DIR = "dir"
FILE = "file"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Node(NamedTuple):
    """One catalog node (a tuple: built for every row of every listing, so cheap to make)."""

    id: int
    tenant_id: str
    parent_id: int | None
    name: str
    kind: str
    size: int
    blob_id: str | None
    content_mac: str | None
    etag: str
    owner_id: str | None
    mtime: datetime
    ctime: datetime

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR


_COLS = (nodes.c.id, nodes.c.tenant_id, nodes.c.parent_id, nodes.c.name, nodes.c.kind,
         nodes.c.size, nodes.c.blob_id, nodes.c.content_mac, nodes.c.etag, nodes.c.owner_id,
         nodes.c.mtime, nodes.c.ctime)


def _utc(ts: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (SQLite rows read raw hold it as text)."""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _node(row) -> Node:  # type: ignore[no-untyped-def]
    """A Node from a row selecting ``_COLS`` first (positional: rows come by the thousand)."""
    return Node(*row[:10], _utc(row[10]), _utc(row[11]))


def new_etag() -> str:
    return secrets.token_hex(8)


def create_root(conn: Connection, tenant_id: str) -> int:
    now = datetime.now(UTC)
    return conn.execute(nodes.insert().values(
        tenant_id=tenant_id, parent_id=None, name="", name_key="", kind=DIR, size=0,
        etag=new_etag(), mtime=now, ctime=now,
    )).inserted_primary_key[0]


# the hot statements run on the driver's cursor (``db.run_raw``): every request runs them
_SELECT = ("SELECT id, tenant_id, parent_id, name, kind, size, blob_id, content_mac, etag, "
           "owner_id, mtime, ctime FROM nodes WHERE tenant_id = :t")  # the order of _COLS
# (a node in the trash has no parent either; only the root has the empty name)
_ROOT = RawSQL(f"{_SELECT} AND parent_id IS NULL AND name_key = ''")
_CHILD = RawSQL(f"{_SELECT} AND parent_id = :p AND name_key = :k")
_BY_ID = RawSQL(f"{_SELECT} AND id = :i")
_CHILDREN = RawSQL(f"{_SELECT} AND parent_id = :p ORDER BY name_key LIMIT :n")
_CHILDREN_AFTER = RawSQL(f"{_SELECT} AND parent_id = :p AND name_key > :after "
                         "ORDER BY name_key LIMIT :n")
_LOCK_TENANT = RawSQL("SELECT id FROM tenants WHERE id = :t", for_update=True)


def root(conn: Connection, tenant_id: str) -> Node:
    row = run_raw(conn, _ROOT, {"t": tenant_id}).fetchone()
    if row is None:
        raise NotFound("tenant has no namespace (was it purged?)")
    return _node(row)


def child(conn: Connection, tenant_id: str, parent_id: int, name: str,
          case_insensitive: bool) -> Node | None:
    row = run_raw(conn, _CHILD, {"t": tenant_id, "p": parent_id,
                                 "k": name_key(name, case_insensitive)}).fetchone()
    return _node(row) if row else None


def resolve(conn: Connection, tenant_id: str, parts: list[str],
            case_insensitive: bool, root_id: int | None = None,
            names: list[str] | None = None) -> Node:
    """The node at ``parts`` or NotFound / NotADirectory.

    ``root_id`` (the tenant's root node id, which never changes) saves one query;
    ``names``, if given, receives the stored names along the way (their stored case)."""
    node = root(conn, tenant_id) if not parts or root_id is None else \
        _root_stub(tenant_id, root_id)
    for i, part in enumerate(parts):
        if not node.is_dir:
            raise NotADirectory(f"/{'/'.join(parts[:i])} is a file, not a folder")
        found = child(conn, tenant_id, node.id, part, case_insensitive)
        if found is None:
            raise NotFound(f"/{'/'.join(parts[: i + 1])} does not exist")
        node = found
        if names is not None:
            names.append(found.name)
    return node


def _root_stub(tenant_id: str, root_id: int) -> Node:
    """The root as a walk starts from it: id and kind only (no query)."""
    return Node(root_id, tenant_id, None, "", DIR, 0, None, None, "", None, _EPOCH, _EPOCH)


def resolve_parent(conn: Connection, tenant_id: str, parts: list[str],
                   case_insensitive: bool, root_id: int | None = None
                   ) -> tuple[Node, Node | None]:
    """(parent folder, existing node or None) for a path that is not the root. With
    ``root_id``, a parent that is the root is ``_root_stub`` (id and kind only)."""
    parent = _root_stub(tenant_id, root_id) if len(parts) == 1 and root_id is not None \
        else resolve(conn, tenant_id, parts[:-1], case_insensitive, root_id)
    if not parent.is_dir:
        raise NotADirectory(f"/{'/'.join(parts[:-1])} is a file, not a folder")
    return parent, child(conn, tenant_id, parent.id, parts[-1], case_insensitive)


def by_id(conn: Connection, tenant_id: str, node_id: int) -> Node | None:
    row = run_raw(conn, _BY_ID, {"t": tenant_id, "i": node_id}).fetchone()
    return _node(row) if row else None


def children(conn: Connection, tenant_id: str, parent_id: int, *, after: str | None = None,
             limit: int = 1000) -> list[Node]:
    """One page of a folder's children ordered by name_key (keyset pagination)."""
    params = {"t": tenant_id, "p": parent_id, "n": limit, "after": after}
    rows = run_raw(conn, _CHILDREN if after is None else _CHILDREN_AFTER, params).fetchall()
    return [_node(r) for r in rows]


def page_key(node: Node, case_insensitive: bool) -> str:
    return name_key(node.name, case_insensitive)


def has_children(conn: Connection, tenant_id: str, node_id: int) -> bool:
    return conn.execute(select(nodes.c.id).where(
        nodes.c.tenant_id == tenant_id, nodes.c.parent_id == node_id).limit(1)).first() is not None


def subtree(conn: Connection, tenant_id: str, node_id: int) -> list[Node]:
    """The node and all its descendants (recursive CTE; parents before children)."""
    base = select(*_COLS, literal(0).label("depth")).where(
        nodes.c.tenant_id == tenant_id, nodes.c.id == node_id)
    tree = base.cte("tree", recursive=True)
    n2 = nodes.alias("n2")
    step = select(*(n2.c[c.name] for c in _COLS), (tree.c.depth + 1).label("depth")).where(
        and_(n2.c.tenant_id == tenant_id, n2.c.parent_id == tree.c.id))
    tree = tree.union_all(step)
    rows = conn.execute(select(tree).order_by(tree.c.depth)).all()
    return [_node(r) for r in rows]


def is_descendant(conn: Connection, tenant_id: str, node_id: int, ancestor_id: int) -> bool:
    """True if ``node_id`` is ``ancestor_id`` or lies below it."""
    current: int | None = node_id
    while current is not None:
        if current == ancestor_id:
            return True
        current = conn.execute(select(nodes.c.parent_id).where(
            nodes.c.tenant_id == tenant_id, nodes.c.id == current)).scalar()
    return False


def path_of(conn: Connection, tenant_id: str, node_id: int) -> str:
    parts: list[str] = []
    current: int | None = node_id
    while current is not None:
        row = conn.execute(select(nodes.c.name, nodes.c.parent_id).where(
            nodes.c.tenant_id == tenant_id, nodes.c.id == current)).first()
        if row is None:
            raise NotFound("node vanished")
        if row.parent_id is not None:
            parts.append(row.name)
        current = row.parent_id
    return "/" + "/".join(reversed(parts))


def usage_by_owner(nodes_: list[Node]) -> dict[str | None, tuple[int, int]]:
    """Bytes and file count per owner for a set of nodes (for quota bookkeeping)."""
    out: dict[str | None, tuple[int, int]] = {}
    for n in nodes_:
        if n.kind == FILE:
            b, f = out.get(n.owner_id, (0, 0))
            out[n.owner_id] = (b + n.size, f + 1)
    return out


def lock_tenant(conn: Connection, tenant_id: str) -> None:
    """Make this write transaction the only writer of the tenant's namespace and locks.

    On PostgreSQL the tenant row is locked ``FOR UPDATE`` (other tenants go on in
    parallel); on SQLite the write transaction is ``BEGIN IMMEDIATE`` already, which
    serialises every writer, so no statement is needed."""
    if conn.dialect.name != "sqlite":
        run_raw(conn, _LOCK_TENANT, {"t": tenant_id}).fetchone()


def iter_children(conn_factory, tenant_id: str, parent_id: int, case_insensitive: bool,  # type: ignore[no-untyped-def]
                  page_size: int) -> Iterator[Node]:
    """Stream a folder's children page by page, each page in its own short transaction."""
    after: str | None = None
    while True:
        with conn_factory() as conn:
            page = children(conn, tenant_id, parent_id, after=after, limit=page_size)
        yield from page
        if len(page) < page_size:
            return
        after = page_key(page[-1], case_insensitive)


__all__ = ["DIR", "FILE", "Node"]
