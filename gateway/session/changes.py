"""Session operations that change the namespace: mkdir, delete, move, copy, set_mtime,
dead properties.

Each one: permission checks (on every node it touches), then one write transaction that
owns the tenant's namespace and does the lock checks, the node changes
(``catalog.nswrite``), the quota charge (``quota``), the blob releases (the content
store) and the audit event; blobs no node references any more leave the blob store after
the commit.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway import authz
from gateway.catalog import namespace as ns, nswrite, properties, retention_policy
from gateway.catalog.namespace import FILE
from gateway.entry import Entry, entry_of
from gateway.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    InvalidMove,
    InvalidName,
    IsADirectory,
    NotADirectory,
    NotFound,
    PermissionDenied,
)
from gateway.names import join_path
from gateway.session.base import SessionBase

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gateway.catalog.namespace import Node


class SessionPartChange(SessionBase):
    """Namespace changes, each one transaction with its audit event."""

    def mkdir(self, path: str, *, parents: bool = False, exist_ok: bool = False,
              lock_tokens: Collection[str] | None = None) -> Entry:
        with self._op("mkdir", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            if not parts:
                if exist_ok:
                    return self.stat_quiet("/")
                raise AlreadyExists("the root folder always exists")
            self._require("write", norm)
            now = datetime.now(UTC)
            with self._write_tx() as conn:
                node = ns.root(conn, self.tenant_id)
                for i, part in enumerate(parts):
                    found = ns.child(conn, self.tenant_id, node.id, part, self._ci)
                    last = i == len(parts) - 1
                    if found is not None:
                        if not found.is_dir:
                            raise NotADirectory(f"{join_path(parts[:i + 1])} is a file")
                        if last and not exist_ok:
                            raise AlreadyExists(f"{norm} already exists")
                        node = found
                        continue
                    if not last and not parents:
                        raise NotFound(f"{join_path(parts[:i + 1])} does not exist")
                    self._check_unlocked(conn, parts[:i + 1], lock_tokens, membership=True)
                    new_id = nswrite.insert_dir(conn, self.tenant_id, node.id, part, self._ci,
                                                self.principal.user_id, now)
                    nswrite.touch(conn, node.id, now)
                    node = ns.by_id(conn, self.tenant_id, new_id)  # type: ignore[assignment]
                op.commit_in(conn)
            return entry_of(norm, node)

    def delete(self, path: str, *, recursive: bool = False, kind: str | None = None,
               lock_tokens: Collection[str] | None = None) -> int:
        """Delete a file, or a folder (with its content if ``recursive``); returns nodes
        removed. ``kind`` ("file" or "dir") refuses the other kind (SFTP remove/rmdir),
        checked after the permission, so it cannot tell a hidden path's kind."""
        with self._op("delete", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            if not parts:
                raise PermissionDenied("the root folder cannot be deleted")
            self._require("delete", norm)
            dead_blobs: list[str] = []
            with self._write_tx() as conn:
                node, stored = self._resolve_named(conn, parts)
                if kind is not None and kind != node.kind:
                    raise IsADirectory(f"{norm} is a folder") if node.is_dir else \
                        NotADirectory(f"{norm} is a file, not a folder")
                authz.require_subtree(conn, self.principal, "delete", norm, node)
                self._check_unlocked(conn, parts, lock_tokens, membership=True,
                                     subtree=node.is_dir)
                if node.is_dir:
                    if not recursive and ns.has_children(conn, self.tenant_id, node.id):
                        raise DirectoryNotEmpty(f"{norm} is not empty")
                    tree = ns.subtree(conn, self.tenant_id, node.id)
                else:
                    tree = [node]
                policy = self._deletion_policy(conn, parts, subtree=node.is_dir, trash=True)
                now = datetime.now(UTC)
                op.event.bytes = sum(n.size for n in tree if n.kind == FILE)
                if policy.trash_days is None:
                    dead_blobs = self._remove_tree(conn, tree)
                else:  # kept (and counted) in the trash; see gateway/compliance/retention
                    nswrite.to_trash(conn, self.tenant_id, node, stored,
                                     retention_policy.path_key(parts, self._ci),
                                     op.event.bytes, self.principal.user_name, now)
                    op.event.reason = "moved to the trash"
                self._locks.drop(conn, parts)
                nswrite.touch(conn, node.parent_id, now)  # type: ignore[arg-type]
                op.commit_in(conn)
            self.content.delete_stored(dead_blobs)
            return len(tree)

    def _remove_tree(self, conn: Connection, tree: list[Node]) -> list[str]:
        """Delete a subtree's nodes, release their usage and the blobs no node references
        any more; returns the ids to delete from the blob store after the commit."""
        deltas = {owner: [-b, -f] for owner, (b, f) in ns.usage_by_owner(tree).items()}
        nswrite.delete_nodes(conn, self.tenant_id, tree)
        if deltas:
            self._charge(conn, deltas)
        dead = []
        for blob_id in {n.blob_id for n in tree if n.blob_id}:
            if self.content.release(conn, blob_id):
                dead.append(blob_id)
        return dead

    def _replace(self, conn: Connection, dparts: list[str], existing: Node,
                 overwrite: bool) -> list[str]:
        """Remove the destination a move or copy replaces (``overwrite`` and ``delete``
        permission on all of it) and its locks; returns the blob ids to delete after the
        commit."""
        dnorm = join_path(dparts)
        if not overwrite:
            raise AlreadyExists(f"{dnorm} already exists")
        authz.require_subtree(conn, self.principal, "delete", dnorm, existing)
        self._deletion_policy(conn, dparts, subtree=existing.is_dir)
        tree = ns.subtree(conn, self.tenant_id, existing.id) if existing.is_dir \
            else [existing]
        dead = self._remove_tree(conn, tree)
        self._locks.drop(conn, dparts)
        return dead

    def move(self, src: str, dst: str, *, overwrite: bool = False,
             lock_tokens: Collection[str] | None = None) -> Entry:
        """Rename/move a file or a whole folder in one transaction."""
        with self._op("move", src, dst) as op:
            sparts, snorm = self._parts(src)
            dparts, dnorm = self._parts(dst)
            op.event.path, op.event.dest_path = snorm, dnorm
            if not sparts or not dparts:
                raise InvalidMove("the root folder cannot be moved or replaced")
            self._require("rename", snorm)
            self._require("rename", dnorm)
            self._require("write", dnorm)
            dead: list[str] = []
            with self._write_tx() as conn:
                node = self._resolve(conn, sparts)
                parent, existing = self._resolve_parent(conn, dparts)
                if ns.is_descendant(conn, self.tenant_id, parent.id, node.id):
                    raise InvalidMove("a folder cannot be moved into itself")
                authz.require_subtree(conn, self.principal, "rename", snorm, node)
                authz.require_subtree(conn, self.principal, "write", dnorm, node)
                self._check_unlocked(conn, sparts, lock_tokens, membership=True,
                                     subtree=node.is_dir)
                self._check_unlocked(conn, dparts, lock_tokens, membership=True,
                                     subtree=existing is not None and existing.is_dir)
                self._deletion_policy(conn, sparts, subtree=node.is_dir)  # held: stays
                if existing is not None and existing.id != node.id:
                    dead = self._replace(conn, dparts, existing, overwrite)
                self._locks.drop(conn, sparts)  # locks stay with the URL, not the node
                nswrite.move_node(conn, node, parent.id, dparts[-1], self._ci,
                                  datetime.now(UTC))
                op.commit_in(conn)
                moved = ns.by_id(conn, self.tenant_id, node.id)
            self.content.delete_stored(dead)
            assert moved is not None
            return entry_of(dnorm, moved)

    def copy(self, src: str, dst: str, *, overwrite: bool = False, recursive: bool = True,
             lock_tokens: Collection[str] | None = None) -> Entry:
        """Copy a file or folder. Content blobs are shared (immutable), so this is O(nodes)."""
        with self._op("copy", src, dst) as op:
            sparts, snorm = self._parts(src)
            dparts, dnorm = self._parts(dst)
            op.event.path, op.event.dest_path = snorm, dnorm
            if not dparts:
                raise InvalidMove("the root folder cannot be replaced")
            self._require("read", snorm)
            self._require("write", dnorm)
            dead: list[str] = []
            with self._write_tx() as conn:
                node = self._resolve(conn, sparts)
                parent, existing = self._resolve_parent(conn, dparts)
                if node.is_dir and ns.is_descendant(conn, self.tenant_id, parent.id, node.id):
                    raise InvalidMove("a folder cannot be copied into itself")
                if recursive:
                    authz.require_subtree(conn, self.principal, "read", snorm, node)
                    authz.require_subtree(conn, self.principal, "write", dnorm, node)
                self._check_unlocked(conn, dparts, lock_tokens, membership=True,
                                     subtree=existing is not None and existing.is_dir)
                if existing is not None:
                    if existing.id == node.id:
                        raise InvalidMove("source and destination are the same")
                    dead = self._replace(conn, dparts, existing, overwrite)
                source = ns.subtree(conn, self.tenant_id, node.id) if node.is_dir and recursive \
                    else [node]
                new_top = self._clone(conn, source, parent.id, dparts[-1])
                op.event.bytes = sum(n.size for n in source if n.kind == FILE)
                op.commit_in(conn)
                copied = ns.by_id(conn, self.tenant_id, new_top)
            self.content.delete_stored(dead)
            assert copied is not None
            return entry_of(dnorm, copied)

    def _clone(self, conn: Connection, source: list[Node], parent_id: int, name: str) -> int:
        """Charge the copier for ``source``'s files, then copy the nodes."""
        mine = self.principal.user_id
        b, f = sum(n.size for n in source if n.kind == FILE), sum(n.kind == FILE for n in source)
        self._charge(conn, {mine: [b, f]})
        return nswrite.clone(conn, self.tenant_id, source, parent_id, name, self._ci, mine,
                             datetime.now(UTC))

    def set_mtime(self, path: str, mtime: datetime,
                  lock_tokens: Collection[str] | None = None) -> Entry:
        with self._op("setattr", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require("write", norm)
            with self._write_tx() as conn:
                node = self._resolve(conn, parts)
                self._check_unlocked(conn, parts, lock_tokens)
                nswrite.set_mtime(conn, node.id, mtime)
                op.commit_in(conn)
                node = ns.by_id(conn, self.tenant_id, node.id)  # type: ignore[assignment]
            return entry_of(norm, node)

    def set_props(self, path: str, changes: dict[str, str | None],
                  lock_tokens: Collection[str] | None = None) -> None:
        """Set (value) or remove (None) dead properties in one transaction; audited."""
        with self._op("proppatch", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require("write", norm)
            for name, value in changes.items():
                if not name or len(name) > properties.MAX_NAME_CHARS or (
                        value is not None and len(value) > properties.MAX_VALUE_CHARS):
                    raise InvalidName("property name or value too long")
            with self._write_tx() as conn:
                node = self._resolve(conn, parts)
                self._check_unlocked(conn, parts, lock_tokens)
                properties.apply(conn, self.tenant_id, node.id, changes)
                op.commit_in(conn)
