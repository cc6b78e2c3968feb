"""Session operations that read: stat, list, open/read a file, dead properties."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gateway import authz
from gateway.catalog import namespace as ns, properties
from gateway.entry import Entry, entry_of
from gateway.errors import IsADirectory, NotADirectory
from gateway.filereader import FileReader
from gateway.session.base import SessionBase

if TYPE_CHECKING:
    from gateway.catalog.namespace import Node


class SessionPartRead(SessionBase):
    """Reads: each one checked against the principal's permissions and audited once."""

    def stat(self, path: str) -> Entry:
        with self._op("stat", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require_seen(norm)
            node, stored = self._node_at(parts)
            return entry_of(stored, node)

    def list(self, path: str, *, page_size: int = 1000) -> Iterator[Entry]:
        """Stream a folder's entries in name order, page by page (bounded memory)."""
        with self._op("list", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            full = self.principal.allowed("list", norm)
            if not full and not self.principal.may_traverse(norm):
                self._require("list", norm)
            node, stored = self._node_at(parts)
            if not node.is_dir:
                raise NotADirectory(f"{norm} is a file, not a folder")
        return self._iter_entries(node, stored, full, page_size)

    def _iter_entries(self, node: Node, norm: str, full: bool,
                      page_size: int) -> Iterator[Entry]:
        base = "" if norm == "/" else norm
        hide = authz.child_filter(self.principal, norm) if full else None
        for child in ns.iter_children(self.core.catalog.read, self.tenant_id, node.id, self._ci,
                                      page_size):
            child_path = f"{base}/{child.name}"
            if (full and (hide is None or hide(child_path))) or \
                    self.principal.may_traverse(child_path):
                yield entry_of(child_path, child)

    def open_read(self, path: str, offset: int = 0, length: int | None = None) -> FileReader:
        """A reader over ``[offset, offset+length)`` of a file. Audited when closed."""
        op = self._new_op("read", path)
        try:
            if self.guard is not None:
                self.guard()
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require("read", norm)
            facts = self._ahead.of(parts)  # looked up with prepare="read" in this request
            if facts is None or (facts.blob_key is None and facts.node is not None
                                 and facts.node.blob_id):
                with self.core.catalog.read() as conn:
                    facts = self._read_facts(conn, parts)
            entry = facts.entry()
            if entry.is_dir:
                raise IsADirectory(f"{norm} is a folder")
            node = facts.node
            assert node is not None
            reader = self.content.open_node(node, key=facts.blob_key) if node.blob_id \
                else None
        except BaseException as exc:
            op.fail(exc)
            raise
        return FileReader(op, entry, reader, offset, length)

    def read_file(self, path: str) -> bytes:
        with self.open_read(path) as reader:
            return reader.read()

    # --- dead properties (WebDAV PROPPATCH/PROPFIND; stored in ``dav_props``) ------------
    def get_props(self, path: str) -> dict[str, str]:
        """A node's dead properties. Not audited: it describes a stat/list just audited."""
        parts, norm = self._parts(path)
        self._require_seen(norm)
        with self.core.catalog.read() as conn:
            node = self._resolve(conn, parts)
            return properties.of_node(conn, self.tenant_id, node.id)

    def child_props(self, path: str) -> dict[str, dict[str, str]]:
        """Dead properties of a folder's children (those that have any), by child name."""
        parts, norm = self._parts(path)
        if not self.principal.may_traverse(norm):
            self._require("list", norm)
        with self.core.catalog.read() as conn:
            node = self._resolve(conn, parts)
            return properties.of_children(conn, self.tenant_id, node.id)
