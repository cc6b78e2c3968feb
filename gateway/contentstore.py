"""One tenant's file content: the lifecycle of its encrypted blobs.

A blob is written before the catalog knows it (``new_writer``), becomes visible when the
commit transaction inserts its row (``insert_row``, with the node change), and goes away
when no node references it any more (``release`` inside the transaction that dropped the
last reference, then ``delete_stored`` after the commit). A blob that never became
visible is ``discard``-ed. Readers open a blob from a node (its key read from the catalog)
or from a just-finished record; keys are unwrapped through the keyring by ``BlobReader``.
Random-access scratch space for writes (``new_spool``) is part of the same concern: it
holds content in flight, encrypted under an ephemeral key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from gateway.backends.stores import DEFAULT, Placement
from gateway.blobio import BlobReader, BlobRecord, BlobWriter
from gateway.catalog.db import RawSQL, db_time, run_raw
from gateway.errors import NotFound

if TYPE_CHECKING:
    from gateway.backends import BlobStore
    from gateway.backends.stores import StoreSet
    from gateway.catalog import Catalog
    from gateway.catalog.namespace import Node
    from gateway.config import Config
    from gateway.crypto.spool import EncryptedSpool
    from gateway.keyring import Keyring
    from gateway.membudget import MemoryBudget

# hot statements (every upload or download runs them): on the driver's cursor
_INSERT_BLOB = RawSQL(
    "INSERT INTO blobs (id, tenant_id, size, stored_size, key_version, wrapped_key, "
    "created_at, inline_data, content_mac, store) VALUES (:id, :tenant_id, :size, "
    ":stored_size, :key_version, :wrapped_key, :created_at, :inline_data, :content_mac, :store)")
_RELEASE_BLOB = RawSQL(
    "DELETE FROM blobs WHERE id = :b AND NOT EXISTS (SELECT 1 FROM nodes WHERE blob_id = :b) "
    "RETURNING length(inline_data)")
# (not "inline_data IS NULL": SQLite 3.40 evaluates that wrongly in a DELETE's RETURNING)
_BLOB_KEYS = RawSQL("SELECT key_version, wrapped_key, stored_size, inline_data, store "
                    "FROM blobs WHERE id = :b AND tenant_id = :t")


class ContentStore:
    """Blob lifecycle for one tenant: open, write, insert, discard, release."""

    def __init__(self, catalog: Catalog, store: BlobStore, keyring: Keyring, config: Config,
                 tenant_id: str, stores: StoreSet | None = None,
                 placement: Placement | None = None) -> None:
        """``store`` serves the default store (and deletes by id in every store);
        ``stores`` the others by name; ``placement`` says where new blobs go."""
        self._catalog = catalog
        self._store = store
        self._stores = stores
        self._placement = placement or Placement()
        self._keyring = keyring
        self._config = config  # read when used: its paths are resolved on every access
        self.tenant_id = tenant_id

    # --- reading ------------------------------------------------------------------------
    def open_node(self, node: Node, conn: Connection | None = None,
                  key: Any = None) -> BlobReader:
        """A reader over a file node's current content: its key row ``key`` (``key_row``,
        read earlier in the same request), or read in ``conn``, or in a read transaction
        of its own."""
        if key is None:
            if conn is None:
                with self._catalog.read() as conn:
                    return self.open_node(node, conn)
            key = self.key_row(conn, node.blob_id or "")
        version, wrapped, stored_size, inline, store = key
        return BlobReader(self._named(store), self._keyring, self.tenant_id, node.blob_id or "",
                          version, bytes(wrapped), stored_size,
                          None if inline is None else bytes(inline))

    def key_row(self, conn: Connection, blob_id: str) -> Any:
        """The catalog row that opens a blob (key version, wrapped key, stored size,
        inline content); NotFound if the catalog has none."""
        row = run_raw(conn, _BLOB_KEYS, {"b": blob_id, "t": self.tenant_id}).fetchone()
        if row is None:
            raise NotFound("file content is missing from the catalog")
        return row

    def open_record(self, record: BlobRecord) -> BlobReader:
        """A reader over a finished blob the catalog does not know yet."""
        return BlobReader(self._named(record.store), self._keyring, self.tenant_id, record.id,
                          record.key_version, record.wrapped_key, record.stored_size,
                          record.inline)

    # --- writing ------------------------------------------------------------------------
    def new_writer(self) -> BlobWriter:
        """A new, invisible blob (inline in the catalog if it stays small) in the tenant's
        store; ``ResidencyRefused`` if that store is outside the tenant's regions."""
        name = self.check_residency()
        return BlobWriter(self._named(name), self._keyring, self.tenant_id,
                          self._config.storage.inline_max_bytes, name)

    def check_residency(self) -> str:
        """The store new blobs of this tenant go to; ``ResidencyRefused`` if its region
        is not one the tenant allows (a write is refused before any byte arrives)."""
        if self._stores is None:
            return self._placement.store
        return self._stores.check_residency(self._placement)

    def _named(self, name: str) -> BlobStore:
        if name == DEFAULT or self._stores is None:
            return self._store
        return self._stores.named(name)

    def new_spool(self, memory: MemoryBudget | None) -> EncryptedSpool:
        """Encrypted random-access scratch space for a write that is not sequential."""
        from gateway.crypto.spool import EncryptedSpool

        return EncryptedSpool(self._config.tmp_dir,
                              memory=memory.metadata if memory else None)

    def insert_row(self, conn: Connection, record: BlobRecord, now: datetime) -> None:
        """Record a finished blob in the catalog (in the transaction that uses it)."""
        run_raw(conn, _INSERT_BLOB, {
            "id": record.id, "tenant_id": self.tenant_id, "size": record.size,
            "stored_size": record.stored_size, "key_version": record.key_version,
            "wrapped_key": record.wrapped_key, "content_mac": record.content_mac,
            "created_at": db_time(conn, now), "inline_data": record.inline,
            "store": record.store})

    # --- dropping -----------------------------------------------------------------------
    def discard(self, record: BlobRecord) -> None:
        """Delete a finished blob that never became visible (inline ones vanish with it)."""
        if record.in_store:
            self._named(record.store).delete(record.id)

    def release(self, conn: Connection, blob_id: str | None) -> str | None:
        """Drop a blob row no node references any more; returns its id if the blob store
        holds content to delete after the commit (an inline blob goes with its row)."""
        if blob_id is None:
            return None
        row = run_raw(conn, _RELEASE_BLOB, {"b": blob_id}).fetchone()
        return blob_id if row is not None and row[0] is None else None

    def delete_stored(self, blob_ids: Iterable[str]) -> None:
        """Delete released blobs from the blob store (after their commit)."""
        for blob_id in blob_ids:
            self._store.delete(blob_id)
