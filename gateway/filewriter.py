"""Atomic file writes: a new version becomes visible only on a successful ``close``.

How appends and random-offset writes work over immutable blobs:

* **Stream mode** (the fast path). Bytes are encrypted straight into a new blob as they
  arrive, as long as each write starts where the previous one ended. Writes that arrive a
  little ahead of that point (SFTP clients keep several requests in flight) wait in a
  bounded in-memory reorder buffer until the gap is filled. When the file was opened
  without truncation (resume, append, an in-place update), the unchanged parts of the
  previous version are copied into the new blob where the new writes leave them alone
  (before the first write, in gaps, and after the last write).
* **Spool mode** (the general path). A write that goes backwards over already-encrypted
  bytes, overlaps a buffered write, overflows the reorder buffer, or a ``truncate``,
  switches the writer to an encrypted random-access scratch file (``EncryptedSpool``,
  ephemeral key, unlinked at creation): what was streamed so far, the rest of the previous
  version and the buffered writes are laid into it, and every later write lands at its
  offset. On close the spool is encrypted into the new blob in one pass.

Growth is checked before any byte is written (``WriteRoom``): a write past the end or
a truncate that would take the file past ``storage.max_file_bytes`` or the quota is
refused at once, so a far-away offset never materialises a hole of zeros on disk.

Either way, the catalog row is switched to the new blob only in ``close`` (one
transaction with the quota update and the audit event), after the blob is durable and,
when the client announced a length, after the received byte count matched it. ``abort``
(or any error) deletes the new blob and leaves the previous version untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.blobio import BlobReader, BlobRecord, BlobWriter
from gateway.errors import GatewayError, IncompleteUpload, QuotaExceeded

if TYPE_CHECKING:
    from gateway.catalog.namespace import Node
    from gateway.contentstore import ContentStore
    from gateway.crypto.spool import EncryptedSpool
    from gateway.entry import Entry
    from gateway.membudget import MemoryBudget
    from gateway.writeroom import WriteRoom

REORDER_LIMIT = 32 * 1024 * 1024
#: buffered writes per writer (each is checked for overlap on every write) and the RAM
#: each one costs beyond its bytes: tiny scattered writes must not buy more than bytes
REORDER_MAX_WRITES = 1024
REORDER_ENTRY_COST = 128
COPY_CHUNK = 1024 * 1024
_ZEROS = bytes(COPY_CHUNK)


class WriteTarget(Protocol):
    """The narrow interface between a writer and the Session that opened it."""

    #: the tenant's blobs: the new version, the previous one, scratch space
    content: ContentStore

    def commit(self, record: BlobRecord, received: int) -> Entry:
        """Make ``record`` the file's visible version (one transaction with the quota
        charge and the audit event); raise to refuse, changing nothing."""
        ...

    def fail(self, exc: BaseException, received: int) -> None:
        """Audit the write as refused or failed (the new version was dropped)."""
        ...


class FileWriter:
    """A write handle. Not thread-safe: one front-end request at a time per handle."""

    def __init__(self, target: WriteTarget, path: str, base: Node | None, *, truncate: bool,
                 expected_length: int | None, room: WriteRoom) -> None:
        """``base``: the version being replaced (kept in the new one unless ``truncate``);
        ``room``: the growth allowance, checked before bytes are written."""
        self._target = target
        self._content = target.content
        self.path = path
        self.expected_length = expected_length
        self._base_node = None if truncate else base
        self._base_size = self._base_node.size if self._base_node else 0
        self._base_reader: BlobReader | None = None
        self._stream: BlobWriter | None = None
        self._next = 0
        self._pending: dict[int, bytes] = {}
        self._pending_bytes = 0
        self._spool: EncryptedSpool | None = None
        self.size = self._base_size
        self.position = 0
        self.received = 0
        self.closed = False
        self.result: BlobRecord | None = None
        self._room = room
        self._refusal: QuotaExceeded | None = None
        self.entry: Entry | None = None  # the committed file, after close()
        #: shared with the client's other writers (set by the front-end): the reorder
        #: buffer takes its bytes from it and spills to the spool when it is spent
        self.memory: MemoryBudget | None = None

    # --- client-facing operations -----------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview, offset: int | None = None) -> int:
        """Write at ``offset`` (default: after the previous write). Returns bytes taken."""
        self._check_open()
        offset = self.position if offset is None else offset
        if offset < 0:
            raise ValueError("negative offset")
        n = len(data)
        if offset + n > self.size:
            self._grow(offset + n)
        if n:
            if self._spool is not None:
                self._spool.pwrite(offset, data)
            else:
                self._stream_write(offset, data)
        self.received += n
        self.position = offset + n
        self.size = max(self.size, offset + n)
        return n

    def truncate(self, size: int) -> None:
        """Set the file's length (shorter drops the end, longer adds zeros)."""
        self._check_open()
        if size < 0:
            raise ValueError("negative size")
        if size > self.size:
            self._grow(size)
        if size == 0 and self._spool is None and self._stream is None and not self._pending:
            self._base_node, self._base_size, self.size = None, 0, 0
            return
        self._to_spool()
        assert self._spool is not None
        self._spool.truncate(size)
        self.size = size

    def close(self) -> BlobRecord:
        """Finish the new version and make it visible (or raise and change nothing)."""
        self._check_open()
        self.closed = True
        try:
            if (self.expected_length is not None and self.received != self.expected_length):
                raise IncompleteUpload(
                    f"received {self.received} of {self.expected_length} announced bytes; "
                    "the previous version is kept")
            record = self._finish_blob()
        except BaseException as exc:
            self._discard()
            self._target.fail(exc, self.received)
            raise
        try:
            self.entry = self._target.commit(record, self.received)
        except BaseException as exc:
            self._content.discard(record)
            self._target.fail(exc, self.received)
            raise
        finally:
            self._close_base()
        self.result = record
        return record

    def abort(self, reason: str | GatewayError = "aborted") -> None:
        """Drop the new version; the previous one stays. Audited as a failed write
        (``reason`` may be the core error that made the front-end give up)."""
        if self.closed:
            return
        self.closed = True
        self._discard()
        self._target.fail(
            reason if isinstance(reason, GatewayError) else IncompleteUpload(reason),
            self.received)

    def _grow(self, new_size: int) -> None:
        """Refuse (and drop the new version) unless the file may grow to ``new_size``."""
        try:
            self._room.check(new_size)
        except QuotaExceeded as exc:
            self._refusal = exc
            self.abort(exc)
            raise

    def fits(self, new_size: int) -> bool:
        """Whether the file may grow to ``new_size`` by the quota numbers already read (no
        I/O): a front-end on an event loop asks this first, and calls ``grow`` in a
        thread only when it says no."""
        return new_size <= self.size or self._room.fits_known(new_size)

    def grow(self, new_size: int) -> None:
        """Refuse now (audited, the new version dropped) a growth to ``new_size`` that the
        quota or ``storage.max_file_bytes`` forbids; may read fresh quota numbers."""
        self._check_open()
        if new_size > self.size:
            self._grow(new_size)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            if not self.closed:
                self.close()
        else:
            self.abort(f"writer failed: {getattr(exc_type, '__name__', 'error')}")

    # --- stream mode ----------------------------------------------------------------------
    def _stream_write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        end = offset + len(data)
        if offset < self._next or self._overlaps_pending(offset, end):
            self._to_spool()
            assert self._spool is not None
            self._spool.pwrite(offset, data)
            return
        if offset > self._next:
            if not self._pending and self._base_node is not None and offset <= self._base_size:
                self._copy_base_until(offset)  # resume / in-place update: keep what precedes
            else:
                if (self._pending_bytes + len(data) > REORDER_LIMIT
                        or len(self._pending) >= REORDER_MAX_WRITES
                        or not self._reserve(len(data) + REORDER_ENTRY_COST)):
                    self._to_spool()
                    assert self._spool is not None
                    self._spool.pwrite(offset, data)
                    return
                self._pending[offset] = bytes(data)
                self._pending_bytes += len(data)
                return
        self._emit(data)
        while self._next in self._pending:
            chunk = self._pending.pop(self._next)
            self._pending_bytes -= len(chunk)
            self._unreserve(len(chunk) + REORDER_ENTRY_COST)
            self._emit(chunk)

    def _reserve(self, n: int) -> bool:
        return self.memory is None or self.memory.try_take(n)

    def _unreserve(self, n: int) -> None:
        if self.memory is not None:
            self.memory.release(n)

    def _drop_pending(self) -> None:
        self._unreserve(self._pending_bytes + REORDER_ENTRY_COST * len(self._pending))
        self._pending.clear()
        self._pending_bytes = 0

    def _overlaps_pending(self, start: int, end: int) -> bool:
        return any(o < end and start < o + len(d) for o, d in self._pending.items())

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        if self._stream is None:
            self._stream = self._content.new_writer()
        self._stream.write(data)
        self._next += len(data)

    def _copy_base_until(self, end: int) -> None:
        """Fill ``[next, end)`` with the previous version's bytes, zeros past its end."""
        while self._next < end:
            if self._next < self._base_size:
                n = min(COPY_CHUNK, min(end, self._base_size) - self._next)
                self._emit(self._base().read(self._next, n))
            else:
                self._emit(memoryview(_ZEROS)[: min(COPY_CHUNK, end - self._next)])

    def _base(self) -> BlobReader:
        if self._base_reader is None:
            assert self._base_node is not None
            self._base_reader = self._content.open_node(self._base_node)
        return self._base_reader

    # --- spool mode ------------------------------------------------------------------------
    def _to_spool(self) -> None:
        if self._spool is not None:
            return
        spool = self._content.new_spool(self.memory)
        try:
            if self._stream is not None:  # move what was streamed so far into the spool
                record = self._stream.finish()
                self._stream = None
                try:
                    with self._content.open_record(record) as reader:
                        self._copy_into(spool, reader, 0, record.size)
                finally:
                    self._content.discard(record)
            if self._base_node is not None and self._base_size > self._next:
                self._copy_into(spool, self._base(), self._next, self._base_size)
            for offset in sorted(self._pending):
                spool.pwrite(offset, self._pending[offset])
        except BaseException:
            spool.close()
            raise
        self._drop_pending()
        self._spool = spool

    @staticmethod
    def _copy_into(spool: EncryptedSpool, reader: BlobReader, start: int, end: int) -> None:
        pos = start
        while pos < end:
            chunk = reader.read(pos, min(COPY_CHUNK, end - pos))
            if not chunk:
                break
            spool.pwrite(pos, chunk)
            pos += len(chunk)

    # --- finishing -------------------------------------------------------------------------
    def _finish_blob(self) -> BlobRecord:
        if self._spool is not None:
            out = self._content.new_writer()
            try:
                buf = bytearray(COPY_CHUNK)
                view = memoryview(buf)
                pos = 0
                while pos < self.size:
                    n = self._spool.readinto(pos, view[: min(COPY_CHUNK, self.size - pos)])
                    if n <= 0:
                        raise GatewayError("scratch file ended early")
                    out.write(view[:n])
                    pos += n
                return out.finish()
            except BaseException:
                out.abort()
                raise
        for offset in sorted(self._pending):  # fill remaining gaps, then the buffered writes
            self._copy_base_until(offset)
            self._emit(self._pending[offset])
        self._drop_pending()
        self._copy_base_until(self.size)
        if self._stream is None:
            self._stream = self._content.new_writer()
        record = self._stream.finish()
        self._stream = None
        return record

    def _discard(self) -> None:
        if self._stream is not None:
            self._stream.abort()
            self._stream = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._drop_pending()
        self._close_base()

    def _close_base(self) -> None:
        if self._base_reader is not None:
            self._base_reader.close()
            self._base_reader = None
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _check_open(self) -> None:
        if self._refusal is not None:
            raise self._refusal
        if self.closed:
            raise ValueError("write handle is closed")
