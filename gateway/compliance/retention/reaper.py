"""Deleting for good, crash-safe: nodes, quota, blob rows in one transaction; the blobs'
content leaves the store after the commit.

A released blob's id is written to ``blob_deletions`` in the same transaction that drops
its last reference, and removed from there only after the store deleted it; a run killed
between the commit and the store deletion leaves the ids queued, and the next run (or
``drain``) deletes them. So no blob is ever orphaned, whenever the process dies.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, exists, func, select

from gateway import quota
from gateway.catalog.tables import blob_deletions, blobs, nodes

if TYPE_CHECKING:
    from gateway.core import Core

_CHUNK = 500  # ids per IN (...) list
_DELETERS = 8  # store deletions in flight (unlink or an object-store DELETE each)


def _chunks(ids: list, size: int = _CHUNK) -> Iterable[list]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def remove(conn: Connection, tenant_id: str,
           rows: Iterable[tuple[int, str | None, int, str | None, str]]) -> tuple[int, int]:
    """Delete nodes ``(id, owner_id, size, blob_id, kind)`` (children before parents),
    release their usage and queue their blobs no node references any more; returns
    (files, bytes) removed."""
    rows = list(rows)
    deltas: quota.Deltas = {}
    for _id, owner, size, _blob, kind in rows:
        if kind == "file":
            d = deltas.setdefault(owner, [0, 0])
            d[0] -= size
            d[1] -= 1
    for ids in _chunks([r[0] for r in rows]):
        conn.execute(delete(nodes).where(nodes.c.tenant_id == tenant_id, nodes.c.id.in_(ids)))
    if deltas:
        quota.charge(conn, tenant_id, deltas)
    queued = []
    for ids in _chunks(sorted({r[3] for r in rows if r[3]})):
        gone = conn.execute(delete(blobs).where(
            blobs.c.id.in_(ids), ~exists().where(nodes.c.blob_id == blobs.c.id))
            .returning(blobs.c.id, func.length(blobs.c.inline_data))).all()
        queued += [b for b, inline_len in gone if inline_len is None]  # inline: gone with row
    if queued:
        now = datetime.now(UTC)
        conn.execute(blob_deletions.insert(), [{"blob_id": b, "queued_at": now} for b in queued])
    return sum(1 for r in rows if r[4] == "file"), sum(r[2] for r in rows if r[4] == "file")


def drain(core: Core) -> int:
    """Delete every queued blob from the store, then its queue row; returns how many."""
    done = 0
    while True:
        with core.catalog.read() as conn:
            ids = list(conn.execute(select(blob_deletions.c.blob_id)
                                    .order_by(blob_deletions.c.blob_id).limit(_CHUNK)).scalars())
        if not ids:
            return done
        # idempotent (a blob already gone is fine) and I/O-bound: several at once
        with ThreadPoolExecutor(_DELETERS, thread_name_prefix="blob-delete") as pool:
            list(pool.map(core.store.delete, ids))
        with core.catalog.write() as conn:
            conn.execute(delete(blob_deletions).where(blob_deletions.c.blob_id.in_(ids)))
        done += len(ids)
