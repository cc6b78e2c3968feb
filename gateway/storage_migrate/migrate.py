"""``storage migrate``: move a tenant's blobs to another named store, safely.

Per blob: copy the ciphertext to the target under the same id, read it back from the
target and decrypt it all (every segment's tag checked, and the content MAC compared with
the catalog's), then switch ``blobs.store`` in one short transaction per small batch that
also queues the old copies in ``store_releases``; only after that commit are the old
copies deleted (and their queue rows dropped). The catalog is the only progress record,
so a run killed at any point loses nothing and a rerun finishes: blobs still pointing at
another store are copied again (a copy replaces a half-done one), queued old copies are
deleted first.
The target must lie in one of the tenant's allowed regions (refused and audited).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, select, update

from gateway.backends.stores import ResidencyRefused, placement_of
from gateway.blobio import BlobReader
from gateway.catalog.tables import blobs, store_releases
from gateway.errors import BlobIntegrityError
from gateway.keyring import new_content_mac
from gateway.storage_migrate.placement import audit, tenant_row

if TYPE_CHECKING:
    from gateway.backends import BlobStore
    from gateway.core import Core

#: test-only: "N" pauses (sleeps) after the N-th copy, before its switch, so a test can
#: SIGKILL the run at the most delicate point; "N:B" pauses inside the N-th copy once B
#: bytes of it were written (a half-written target, e.g. an open S3 multipart upload)
PAUSE_ENV = "LUMANOX_TEST_MIGRATE_PAUSE_AFTER"
CHUNK = 1024 * 1024
PAGE = 200

Progress = Callable[[int, int], None]  # (files done, bytes done)


@dataclass
class MigrateResult:
    tenant: str
    to: str
    dry_run: bool
    files: int = 0  # blobs to move (dry run) or moved
    bytes: int = 0  # their stored bytes
    released: int = 0  # old copies deleted (including ones a killed run had queued)
    skipped: int = 0  # blobs deleted or moved by someone else meanwhile
    sources: dict[str, int] = field(default_factory=dict)  # store -> files

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pending(core: Core, tenant_id: str, to: str, after: str) -> list[Any]:
    with core.catalog.read() as conn:
        return conn.execute(
            select(blobs.c.id, blobs.c.store, blobs.c.stored_size, blobs.c.key_version,
                   blobs.c.wrapped_key, blobs.c.content_mac)
            .where(blobs.c.tenant_id == tenant_id, blobs.c.inline_data.is_(None),
                   blobs.c.store != to, blobs.c.id > after)
            .order_by(blobs.c.id).limit(PAGE)).all()


def _totals(core: Core, tenant_id: str, to: str) -> tuple[int, int, dict[str, int]]:
    from sqlalchemy import func

    with core.catalog.read() as conn:
        rows = conn.execute(
            select(blobs.c.store, func.count(), func.sum(blobs.c.stored_size))
            .where(blobs.c.tenant_id == tenant_id, blobs.c.inline_data.is_(None),
                   blobs.c.store != to).group_by(blobs.c.store)).all()
    return (sum(r[1] for r in rows), sum(int(r[2] or 0) for r in rows),
            {r[0]: int(r[1]) for r in rows})


def drain_releases(core: Core) -> int:
    """Delete the old copies a switch queued (a killed run's leftovers); returns how many."""
    with core.catalog.read() as conn:
        rows = conn.execute(select(store_releases.c.store, store_releases.c.blob_id)).all()
    _release_many(core, [(r[0], r[1]) for r in rows])
    return len(rows)


def _copy(src: BlobStore, dst: BlobStore, blob_id: str,
          written: Callable[[int], None] | None = None) -> int:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    sink = dst.create(blob_id)
    try:
        with src.open(blob_id) as source:
            offset = 0
            while offset < source.size:
                n = source.readinto(offset, view)
                if n <= 0:
                    break
                sink.write(view[:n])
                offset += n
                if written:
                    written(offset)
        return sink.commit()
    except BaseException:
        sink.abort()
        raise


def _verify(core: Core, dst: BlobStore, tenant_id: str, row: Any) -> None:
    """Decrypt the whole copy on the target; its MAC must be the catalog's."""
    mac = new_content_mac(core.keyring.content_mac_key(tenant_id))
    with BlobReader(dst, core.keyring, tenant_id, row.id, row.key_version,
                    bytes(row.wrapped_key), row.stored_size) as reader:
        for chunk in reader.iter_range(0, reader.size, chunk=CHUNK):
            mac.update(chunk)
    if row.content_mac is not None and mac.hexdigest() != row.content_mac:
        raise BlobIntegrityError(f"blob {row.id}: the copy on the target does not match "
                                 "the catalog's content MAC; nothing was switched")


def _switch(core: Core, tenant_id: str, rows: list[Any], to: str) -> list[Any]:
    """Point the rows at ``to`` and queue their old copies, in one transaction; returns
    the rows switched (a blob deleted or moved meanwhile is not, and its copy goes)."""
    switched, gone = [], []
    with core.catalog.write() as conn:
        for row in rows:
            done = conn.execute(update(blobs).where(and_(
                blobs.c.id == row.id, blobs.c.tenant_id == tenant_id,
                blobs.c.store == row.store)).values(store=to)).rowcount
            if done:
                conn.execute(insert(store_releases).values(
                    store=row.store, blob_id=row.id, queued_at=datetime.now(UTC)))
                switched.append(row)
            elif conn.execute(select(blobs.c.store).where(blobs.c.id == row.id)
                              ).scalar() != to:
                gone.append(row.id)  # deleted (or moved elsewhere): our copy is nobody's
    for blob_id in gone:
        core.stores.named(to).delete(blob_id)
    return switched


def _release_many(core: Core, pairs: list[tuple[str, str]]) -> None:
    """Delete old copies ``(store, blob id)`` after their switch, then their queue rows."""
    for store, blob_id in pairs:
        core.stores.named(store).delete(blob_id)
    if pairs:
        with core.catalog.write() as conn:
            for store, blob_id in pairs:
                conn.execute(delete(store_releases).where(
                    store_releases.c.store == store, store_releases.c.blob_id == blob_id))


def _maybe_pause(copied: int, written: int | None = None) -> None:
    """The ``PAUSE_ENV`` test hook: called after copy ``copied`` and, with ``written``,
    inside it."""
    n, _, at = (os.environ.get(PAUSE_ENV) or "0").partition(":")
    if copied != int(n):
        return
    if not at and written is None:
        print(f"migrate: paused after copy {copied}", file=sys.stderr, flush=True)
    elif at and written is not None and written >= int(at):
        print(f"migrate: paused in copy {copied} at {written} bytes", file=sys.stderr,
              flush=True)
    else:
        return
    while True:
        time.sleep(3600)


def _move_batch(core: Core, tid: str, rows: list[Any], dst: BlobStore, to: str,
                result: MigrateResult) -> None:
    """Copy and verify each blob, switch them in one transaction, release the old copies.
    A failure before the switch removes this batch's copies (after a failed switch they
    stay: the commit's outcome is unknown, and a rerun replaces them anyway)."""
    copied: list[Any] = []
    try:
        for row in rows:
            nth = result.files + result.skipped + len(copied) + 1
            _copy(core.stores.named(row.store), dst, row.id, partial(_maybe_pause, nth))
            copied.append(row)
            _maybe_pause(nth)
            _verify(core, dst, tid, row)
    except BaseException:
        for row in copied:
            dst.delete(row.id)
        raise
    switched = _switch(core, tid, copied, to)
    _release_many(core, [(r.store, r.id) for r in switched])
    result.files += len(switched)
    result.released += len(switched)
    result.skipped += len(rows) - len(switched)
    result.bytes += sum(r.stored_size for r in switched)


def migrate(core: Core, tenant: str, to: str, *, dry_run: bool = False, batch: int = 32,
            progress: Progress | None = None,
            start: Callable[[int, int], None] | None = None) -> MigrateResult:
    """Move every blob of ``tenant`` kept in another store to store ``to``."""
    with core.catalog.read() as conn:
        trow = tenant_row(conn, tenant)
    tid = trow.id
    try:
        core.stores.check_residency(placement_of(trow.settings), to)
    except ResidencyRefused as exc:
        audit(core, None, tid, trow.name, "storage-migrate", result="denied", path=to,
              reason=str(exc))
        raise
    dst = core.stores.named(to)
    files, nbytes, sources = _totals(core, tid, to)
    result = MigrateResult(trow.name, to, dry_run, sources=sources)
    if dry_run:
        result.files, result.bytes = files, nbytes
        return result
    result.released = drain_releases(core)
    if start:
        start(files, nbytes)
    after, finished = "", False
    try:
        while rows := _pending(core, tid, to, after):
            after = rows[-1].id
            for i in range(0, len(rows), batch):
                _move_batch(core, tid, rows[i:i + batch], dst, to, result)
                if progress:
                    progress(result.files, result.bytes)
        finished = True
    finally:
        audit(core, None, tid, trow.name, "storage-migrate", path=to, nbytes=result.bytes,
              result="ok" if finished else "error",
              reason=f"{result.files} files ({result.bytes} bytes) moved to {to}, "
              f"{result.released} old copies released, {result.skipped} skipped")
    return result
