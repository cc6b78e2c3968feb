"""``FileReader``: a read handle over a byte range of one file version.

The handle owns the audit record of its read (``AuditedOp``): bytes sent, duration, and
the content MAC when the whole file was read, written when it is closed. It knows
nothing of the Session that opened it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gateway.errors import BlobIntegrityError

if TYPE_CHECKING:
    from gateway.auditedop import AuditedOp
    from gateway.blobio import BlobReader
    from gateway.entry import Entry


class FileReader:
    """A read handle over a byte range of one file version (immutable while open)."""

    def __init__(self, op: AuditedOp, entry: Entry, reader: BlobReader | None,
                 offset: int, length: int | None) -> None:
        self.entry = entry
        self._op = op
        self._reader = reader
        self.size = reader.size if reader is not None else 0
        self.start = min(max(offset, 0), self.size)
        self.end = self.size if length is None else min(self.size, self.start + max(length, 0))
        self.position = self.start
        self.sent = 0
        self.closed = False
        #: stored content failed authentication: audited as an error on close, whatever
        #: the front-end passes (a WebDAV GET has sent its status line already)
        self.failure: BlobIntegrityError | None = None

    def pread(self, offset: int, length: int) -> bytes:
        """Read at an absolute offset (SFTP style), bounded by the handle's range."""
        if self._reader is None or offset >= self.end:
            return b""
        try:
            data = self._reader.read(offset, min(length, self.end - offset))
        except BlobIntegrityError as exc:
            self.failure = exc
            raise
        self.sent += len(data)
        return data

    def read(self, n: int = -1) -> bytes:
        remaining = self.end - self.position
        n = remaining if n < 0 else min(n, remaining)
        data = self.pread(self.position, n) if n > 0 else b""
        self.position += len(data)
        return data

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf)[: max(0, self.end - self.position)]
        if self._reader is None or not len(view):
            return 0
        try:
            n = self._reader.readinto(self.position, view)
        except BlobIntegrityError as exc:
            self.failure = exc
            raise
        self.position += n
        self.sent += n
        return n

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def iter_chunks(self, chunk: int = 262144) -> Iterator[bytes]:
        while True:
            data = self.read(chunk)
            if not data:
                return
            yield data

    def seek(self, position: int) -> None:
        self.position = min(max(position, 0), self.end)

    def close(self, error: BaseException | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        if self._reader is not None:
            self._reader.close()
        ev = self._op.event
        ev.bytes = self.sent
        error = error or self.failure
        if error is not None:
            self._op.fail(error)
            return
        whole = self.start == 0 and self.position >= self.size
        ev.sha256 = self.entry.content_mac if whole else None
        self._op.finish()

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close(exc)
