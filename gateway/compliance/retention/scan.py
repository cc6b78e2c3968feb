"""Which files are due: each file's folder path (as keys), the rule that applies, its
clock, and whether a legal hold covers it. Used to find candidates (one pass over the
tenant) and again inside each batch's transaction, so that only what is due then, by
the state of the catalog then, is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, select

from gateway.catalog.retention_policy import Hold, covers
from gateway.catalog.tables import blobs, nodes
from gateway.compliance.retention.common import utc
from gateway.compliance.retention.rules import Rule, file_rule


class FileRow(NamedTuple):
    id: int
    parent_id: int
    name_key: str
    size: int
    owner_id: str | None
    blob_id: str | None
    mtime: datetime
    ctime: datetime
    uploaded: datetime | None


_FILE_COLS = (nodes.c.id, nodes.c.parent_id, nodes.c.name_key, nodes.c.size, nodes.c.owner_id,
              nodes.c.blob_id, nodes.c.mtime, nodes.c.ctime, blobs.c.created_at)


class DirPaths:
    """Folder id -> path key ("/" for the root; None for a folder in the trash), read from
    the catalog as needed (or all at once with ``preload``), remembered."""

    def __init__(self, conn: Connection, tenant_id: str, preload: bool = False) -> None:
        self._conn, self._tenant = conn, tenant_id
        self._rows: dict[int, tuple[int | None, str]] = {}
        self._keys: dict[int, str | None] = {}
        if preload:
            for r in conn.execute(select(nodes.c.id, nodes.c.parent_id, nodes.c.name_key)
                                  .where(nodes.c.tenant_id == tenant_id, nodes.c.kind == "dir")):
                self._rows[r[0]] = (r[1], r[2])

    def prime(self, dir_ids: set[int]) -> None:
        """Read the rows of ``dir_ids`` and their ancestors: one query per tree level."""
        todo = {i for i in dir_ids if i not in self._rows}
        while todo:
            found = self._conn.execute(select(nodes.c.id, nodes.c.parent_id, nodes.c.name_key)
                                       .where(nodes.c.tenant_id == self._tenant,
                                              nodes.c.id.in_(sorted(todo)))).all()
            for r in found:
                self._rows[r[0]] = (r[1], r[2])
            todo = {r[1] for r in found if r[1] is not None and r[1] not in self._rows}

    def _row(self, node_id: int) -> tuple[int | None, str] | None:
        if node_id not in self._rows:
            r = self._conn.execute(select(nodes.c.parent_id, nodes.c.name_key).where(
                nodes.c.tenant_id == self._tenant, nodes.c.id == node_id)).first()
            if r is None:
                return None
            self._rows[node_id] = (r[0], r[1])
        return self._rows[node_id]

    def key_of(self, dir_id: int) -> str | None:
        if dir_id in self._keys:
            return self._keys[dir_id]
        chain, current, key = [], dir_id, None
        while True:
            if current in self._keys:
                key = self._keys[current]
                break
            row = self._row(current)
            if row is None:
                break  # vanished
            parent, nkey = row
            if parent is None:
                key = "" if nkey == "" else None  # the root, or a trashed top
                self._keys[current] = "/" if key == "" else None
                break
            chain.append((current, nkey))
            current = parent
        for node_id, nkey in reversed(chain):
            key = None if key is None else f"{key.rstrip('/')}/{nkey}"
            self._keys[node_id] = key
        return self._keys.get(dir_id)


def file_key(dir_key: str, name_key: str) -> str:
    return f"{dir_key.rstrip('/')}/{name_key}"


def clock(rule: Rule, f: FileRow) -> datetime:
    """The time the rule counts from (see ``rules``)."""
    uploaded = utc(f.uploaded) or utc(f.ctime)
    if rule.after == "upload":
        return uploaded  # type: ignore[return-value]
    return max(uploaded, utc(f.mtime), utc(f.ctime))  # type: ignore[type-var]


def verdict(paths: DirPaths, rules: dict[str, Rule], holds: list[Hold], f: FileRow,
            now: datetime) -> str:
    """``due``, ``held`` (due but a hold covers it), or ``keep``."""
    dir_key = paths.key_of(f.parent_id)
    if dir_key is None:
        return "keep"  # in the trash: its own clock (trash days), not the rules
    rule = file_rule(rules, dir_key)
    if rule is None or clock(rule, f) > now - timedelta(days=rule.files_days or 0):
        return "keep"
    key = file_key(dir_key, f.name_key)
    return "held" if any(covers(h.path_key, key, False) for h in holds) else "due"


def files(conn: Connection, tenant_id: str, ids: list[int] | None = None) -> Iterator[FileRow]:
    """The tenant's files (or those of ``ids``) with the upload time of their content."""
    query = select(*_FILE_COLS).select_from(
        nodes.outerjoin(blobs, blobs.c.id == nodes.c.blob_id)).where(
        nodes.c.tenant_id == tenant_id, nodes.c.kind == "file")
    if ids is not None:
        query = query.where(nodes.c.id.in_(ids))
    for r in conn.execute(query.order_by(nodes.c.id)):
        yield FileRow(*r)
