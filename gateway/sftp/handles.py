"""Open-file handles: read-ahead over ``FileReader``, write-behind over ``FileWriter``.

asyncssh handles the requests of one SFTP session strictly in order, and every core call
costs a hop to the thread pool. So a read handle fetches a larger block than asked and
serves the following sequential reads from it, and a write handle queues writes and
hands them to the core in batches from a background task; a write error is reported
on the next request on that handle (write, fsync or close) and the upload is aborted:
the previous version of the file stays.

Both buffers draw on the connection's ``MemoryBudget`` (``[sftp]
max_write_buffer_bytes_per_connection``), shared with the core writers' reorder buffers:
read-ahead is skipped when it is spent, and a write waits for its handle's queue to
drain while the connection is over it. So the RAM one client can pin does not grow with
the number of handles it opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from gateway.errors import QuotaExceeded
from gateway.filewriter import FileWriter
from gateway.membudget import MemoryBudget
from gateway.session import FileReader, Session

READ_AHEAD = 1024 * 1024
WRITE_BEHIND_LIMIT = 8 * 1024 * 1024
DRAIN_AT = 256 * 1024  # queued bytes that start a background batch

Run = Callable[..., Awaitable[Any]]


class ReadHandle:
    """A file opened for reading."""

    def __init__(self, run: Run, reader: FileReader, memory: MemoryBudget | None = None) -> None:
        self._run = run
        self.reader = reader
        self.path = reader.entry.path
        self._buf = b""
        self._buf_at = 0
        self.delivered = 0
        self._memory = memory
        self._held = 0  # read-ahead bytes reserved in ``memory``

    @property
    def size(self) -> int:
        return self.reader.size

    async def read(self, offset: int, size: int) -> bytes:
        end = offset + size
        buf_end = self._buf_at + len(self._buf)
        if not (self._buf_at <= offset and end <= buf_end):
            if offset >= self.reader.size:
                return b""
            self._drop_buffer()
            if size >= READ_AHEAD or not self._reserve(READ_AHEAD):
                data = await self._run(self.reader.pread, offset, size)  # nothing kept
                self.delivered += len(data)
                return data
            self._buf = await self._run(self.reader.pread, offset, READ_AHEAD)
            self._buf_at = offset
        data = self._buf[offset - self._buf_at:end - self._buf_at]
        self.delivered += len(data)
        return data

    def _reserve(self, n: int) -> bool:
        if self._memory is None:
            return True
        if self._memory.try_take(n):
            self._held = n
            return True
        return False

    def _drop_buffer(self) -> None:
        self._buf = b""
        if self._memory is not None:
            self._memory.release(self._held)
        self._held = 0

    async def close(self, error: BaseException | None = None) -> None:
        self._drop_buffer()
        self.reader.sent = self.delivered  # audit what the client got, not the read-ahead
        await self._run(self.reader.close, error)


class WriteHandle:
    """A file opened for writing; the new version is committed on ``close``."""

    def __init__(self, run: Run, session: Session, path: str, *, truncate: bool,
                 append: bool, writer: FileWriter | None, base_size: int,
                 readable: bool, memory: MemoryBudget | None = None) -> None:
        self._run = run
        self._session = session
        self.path = path
        self._truncate = truncate
        self.append = append
        self.writer = writer
        self.readable = readable
        self.size = 0 if truncate else base_size
        self.mtime: datetime | None = None
        self._queue: list[tuple[int, bytes]] = []
        self._queued = 0
        self._task: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()
        self._drained.set()
        self.error: BaseException | None = None
        self.reader: ReadHandle | None = None
        self._memory = memory or MemoryBudget(WRITE_BEHIND_LIMIT)
        if writer is not None:
            writer.memory = self._memory

    @property
    def touched(self) -> bool:
        return self.writer is not None

    async def _ensure_writer(self) -> FileWriter:
        if self.writer is None:
            self.writer = await self._run(self._session.open_write, self.path,
                                          truncate=self._truncate, read_usage=True)
            self.writer.memory = self._memory
        return self.writer

    async def _check_room(self, writer: FileWriter, new_size: int) -> None:
        """Fail a write early when the file would not fit the quota.

        The core enforces quotas when the new version is committed (close); some
        clients (paramiko) ignore errors on close, so an upload that cannot fit is
        refused at the write that crosses the limit. The quota numbers read when the
        writer opened answer without a thread-pool hop; only a no is confirmed in a
        hop, with fresh numbers (the writer audits the refusal and drops the version).
        """
        if writer.fits(new_size):
            return
        await self._drained.wait()  # the writer takes one thread at a time
        self._check()
        try:
            await self._run(writer.grow, new_size)
        except QuotaExceeded as exc:
            self.error = exc
            await self.abort(exc)
            raise

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    async def write(self, offset: int, data: bytes) -> None:
        self._check()
        if self.reader is not None:  # the file changes: stop serving the old version
            await self.reader.close()
            self.reader = None
        writer = await self._ensure_writer()
        if self.append:
            offset = self.size
        if offset + len(data) > self.size:
            await self._check_room(writer, offset + len(data))
        self._queue.append((offset, data))
        self._queued += len(data)
        self._memory.take(len(data))
        self.size = max(self.size, offset + len(data))
        if self._task is None and self._queued >= DRAIN_AT:
            self._start_drain()
        if self._queued > WRITE_BEHIND_LIMIT or self._memory.over:
            self._start_drain()
            await self._drained.wait()
            self._check()

    def _take_queue(self) -> list[tuple[int, bytes]]:
        batch, self._queue = self._queue, []
        self._memory.release(self._queued)
        self._queued = 0
        return batch

    def _start_drain(self) -> None:
        if self._task is None and self._queue:
            self._drained.clear()
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue and self.error is None:
                batch, self._queue = self._queue, []
                nbytes, self._queued = self._queued, 0
                try:
                    await self._run(self._apply, batch)
                except Exception as exc:
                    self.error = exc
                finally:  # applied (or failed): what the writer keeps, it counts itself
                    self._memory.release(nbytes)
        finally:
            self._take_queue()
            self._task = None
            self._drained.set()

    def _apply_and_close(self, batch: list[tuple[int, bytes]]) -> None:
        self._apply(batch)
        assert self.writer is not None
        self.writer.close()

    def _apply(self, batch: list[tuple[int, bytes]]) -> None:
        assert self.writer is not None
        for offset, data in batch:
            self.writer.write(data, offset)

    async def flush(self) -> None:
        """Wait until every queued write reached the core (fsync)."""
        self._start_drain()
        await self._drained.wait()
        self._check()

    async def truncate(self, size: int) -> None:
        await self.flush()
        writer = await self._ensure_writer()
        await self._run(writer.truncate, size)
        self.size = size

    async def read(self, offset: int, size: int) -> bytes:
        """Reads on a read-write handle, served from the version opened (before writes)."""
        if self.touched:
            raise OSError("reading a file that is being written on the same handle")
        if self.reader is None:
            self.reader = ReadHandle(self._run, await self._run(self._session.open_read,
                                                                 self.path), self._memory)
        return await self.reader.read(offset, size)

    async def close(self) -> None:
        """Commit the new version (raises and keeps the previous one on any error)."""
        await self._close_reader()
        await self._drained.wait()
        if self.error is not None:
            await self.abort("write failed")
            raise self.error
        if self.writer is None:
            if self.mtime is not None:
                await self._run(self._session.set_mtime, self.path, self.mtime)
            return
        batch = self._take_queue()
        try:  # small files: the last writes and the commit in one thread-pool hop
            await self._run(self._apply_and_close, batch)
        except Exception as exc:
            self.error = exc
            await self.abort("write failed")
            raise
        if self.mtime is not None:
            await self._run(self._session.set_mtime, self.path, self.mtime)

    async def abort(self, reason: str | QuotaExceeded) -> None:
        """Drop the new version (client gone, error); the previous version stays."""
        await self._close_reader()
        self._take_queue()
        if self._task is not None:
            await self._drained.wait()
        if self.writer is not None and not self.writer.closed:
            await self._run(self.writer.abort, reason)

    async def _close_reader(self) -> None:
        if self.reader is not None:
            await self.reader.close()
            self.reader = None


def from_timestamp(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
