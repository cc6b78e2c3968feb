"""Encrypted random-access scratch file for out-of-order writes; plaintext never hits disk.

The file is anonymous (O_TMPFILE, or mkstemp and an immediate unlink), so nothing is left
behind by a crash. Data is AES-256-CTR under an ephemeral key that lives only in memory.

The file is log-structured: every write is appended at a fresh physical offset and an
in-memory extent map sends logical ranges to physical ones. The CTR counter is derived
from the physical byte offset, so no keystream is ever used twice, even when a client
overwrites the same logical range (in-place CTR would then leave XOR-able ciphertexts on
disk). Never-written ranges (holes) are not stored at all and read back as zeros. When
overwritten data makes the file more than twice its live size, it is compacted into a new
anonymous file under a new key. Integrity is not protected: the spool lives seconds in
the gateway's own temp directory.

A spool holds no buffer of its own: the ciphertext scratch buffer is per thread, so a
client with many spooled files costs descriptors and disk, not megabytes of RAM each.
The extent map does grow with scattered writes: given a ``MemoryBudget``, each extent is
charged to it, and a write that would fragment the map past the budget fails with
``SpoolTooFragmented`` (the upload is then aborted; its data stays consistent).
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import weakref
from bisect import bisect_left, bisect_right
from types import TracebackType

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from gateway.errors import GatewayError
from gateway.membudget import MemoryBudget

_KEY_SIZE = 32
_NONCE_SIZE = 8
_BLOCK = 16
_CHUNK = 1 << 20
_COMPACT_SLACK = 16 << 20
_TMPFILE_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}
_EXTENT_COST = 128  # bytes of RAM one extent costs (three list slots and their ints)


class SpoolTooFragmented(GatewayError):
    """Scattered writes would grow the extent map past the memory budget."""

    reason = "resource-limit"


_scratch = threading.local()


def _scratch_buffer() -> memoryview:
    """This thread's ``_CHUNK``-byte scratch buffer (one per thread, not per spool)."""
    buf = getattr(_scratch, "buf", None)
    if buf is None:
        buf = _scratch.buf = memoryview(bytearray(_CHUNK))
    return buf


def _open_anonymous(directory: str | os.PathLike[str]) -> int:
    """Open a read-write file in ``directory`` that has no name."""
    flags = os.O_RDWR | os.O_CLOEXEC
    o_tmpfile = getattr(os, "O_TMPFILE", 0)
    if o_tmpfile:
        try:
            return os.open(directory, o_tmpfile | flags, 0o600)
        except OSError as exc:
            if exc.errno not in _TMPFILE_UNSUPPORTED:
                raise
    fd, path = tempfile.mkstemp(prefix=".spool-", dir=directory)
    try:
        os.unlink(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _ctr(key: bytes, nonce: bytes, position: int) -> CipherContext:
    """An AES-CTR context positioned at byte ``position`` of the keystream."""
    counter = nonce + (position // _BLOCK).to_bytes(16 - _NONCE_SIZE, "big")
    ctx = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    skip = position % _BLOCK
    if skip:
        ctx.update(bytes(skip))
    return ctx


def _pwrite_all(fd: int, view: memoryview, position: int) -> None:
    while view:
        written = os.pwrite(fd, view, position)
        view = view[written:]
        position += written


def _pread_all(fd: int, view: memoryview, position: int) -> None:
    while view:
        got = os.preadv(fd, [view], position)
        if got <= 0:
            raise OSError(errno.EIO, "spool file is shorter than its extent map")
        view = view[got:]
        position += got


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = data if isinstance(data, memoryview) else memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class _Backing:
    """One anonymous physical file and its ephemeral key; append-only."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.fd = _open_anonymous(directory)
        self._finalizer = weakref.finalize(self, os.close, self.fd)
        self._key = os.urandom(_KEY_SIZE)
        self._nonce = os.urandom(_NONCE_SIZE)
        self.end = 0

    def append(self, view: memoryview, scratch: memoryview) -> int:
        """Encrypt ``view`` to the end of the file; return its physical offset.

        ``scratch`` holds ciphertext on its way to disk; it may be the very buffer
        ``view`` lies in (encryption is done in place then).
        """
        start = self.end
        ctx = _ctr(self._key, self._nonce, start)
        for pos in range(0, len(view), _CHUNK):
            piece = view[pos : pos + _CHUNK]
            out = scratch[: len(piece)]
            ctx.update_into(piece, out)
            _pwrite_all(self.fd, out, start + pos)
        self.end = start + len(view)
        return start

    def read(self, phys: int, out: memoryview) -> None:
        """Read and decrypt ``len(out)`` bytes stored at ``phys`` into ``out``."""
        _pread_all(self.fd, out, phys)
        _ctr(self._key, self._nonce, phys).update_into(out, out)

    def close(self) -> None:
        """Close the descriptor and drop the key."""
        self._finalizer()
        self._key = b""


class EncryptedSpool:
    """A sparse, encrypted, random-access scratch file. Calls are serialised by a lock."""

    def __init__(self, directory: str | os.PathLike[str],
                 memory: MemoryBudget | None = None) -> None:
        self._directory = directory
        self._memory = memory
        self._charged = 0  # extents charged to ``memory``
        self._lock = threading.Lock()
        self._size = 0
        self._closed = False
        self._file = _Backing(directory)
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._phys: list[int] = []
        self._compact_at = _COMPACT_SLACK

    # -- public API --
    @property
    def size(self) -> int:
        """Logical size in bytes."""
        return self._size

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def fileno(self) -> int:
        """The descriptor of the current physical file (diagnostics and tests)."""
        self._check_open()
        return self._file.fd

    def pwrite(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``offset``; a gap past the end reads back as zeros."""
        view = _byte_view(data)
        if offset < 0:
            raise ValueError("negative offset")
        with self._lock:
            self._check_open()
            if not view:
                return
            phys = self._file.append(view, _scratch_buffer())
            end = offset + len(view)
            self._unmap(offset, end)
            self._map(offset, end, phys)
            self._size = max(self._size, end)
            self._maybe_compact()
            self._account()

    def readinto(self, offset: int, buf: bytearray | memoryview) -> int:
        """Read into ``buf`` from ``offset``; return the byte count (0 at or after EOF)."""
        view = _byte_view(buf)
        if offset < 0:
            raise ValueError("negative offset")
        with self._lock:
            self._check_open()
            count = max(0, min(len(view), self._size - offset))
            if count:
                self._read_range(offset, view[:count])
            return count

    def truncate(self, size: int) -> None:
        """Set the logical size; growing adds zeros, shrinking drops data."""
        if size < 0:
            raise ValueError("negative size")
        with self._lock:
            self._check_open()
            self._unmap(size, max(size, self._size))
            self._size = size
            self._account()

    def close(self) -> None:
        """Close the file and forget the key; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._file.close()
            self._starts, self._ends, self._phys = [], [], []
            self._account()

    def _account(self) -> None:
        """Charge (or give back) the extent map's growth; raise if the budget is spent."""
        if self._memory is None:
            return
        count = len(self._starts)
        delta, self._charged = count - self._charged, count
        if delta < 0:
            self._memory.release(-delta * _EXTENT_COST)
        elif delta > 0 and not self._memory.try_take(delta * _EXTENT_COST):
            self._memory.take(delta * _EXTENT_COST)  # given back on close
            raise SpoolTooFragmented(
                f"too many scattered writes in one file ({count} separate ranges): "
                "the connection's write buffer limit is reached")

    def __enter__(self) -> EncryptedSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("spool is closed")

    def _read_range(self, offset: int, out: memoryview) -> None:
        """Decrypt logical ``[offset, offset+len(out))`` into ``out``, zeros for holes."""
        end = offset + len(out)
        cursor = offset
        k = bisect_right(self._ends, offset)
        while k < len(self._starts) and self._starts[k] < end:
            lo, hi = max(self._starts[k], offset), min(self._ends[k], end)
            if lo > cursor:
                out[cursor - offset : lo - offset] = bytes(lo - cursor)
            self._file.read(self._phys[k] + lo - self._starts[k], out[lo - offset : hi - offset])
            cursor = hi
            k += 1
        if cursor < end:
            out[cursor - offset :] = bytes(end - cursor)

    # -- extent map: sorted, disjoint logical [start, end) -> physical start --
    def _unmap(self, start: int, end: int) -> None:
        """Forget logical ``[start, end)``, clipping extents that straddle its edges."""
        lo = bisect_right(self._ends, start)
        hi = bisect_left(self._starts, end)
        if lo >= hi:
            return
        keep: list[tuple[int, int, int]] = []
        if self._starts[lo] < start:
            keep.append((self._starts[lo], start, self._phys[lo]))
        if self._ends[hi - 1] > end:
            tail_phys = self._phys[hi - 1] + end - self._starts[hi - 1]
            keep.append((end, self._ends[hi - 1], tail_phys))
        self._starts[lo:hi] = [s for s, _, _ in keep]
        self._ends[lo:hi] = [e for _, e, _ in keep]
        self._phys[lo:hi] = [p for _, _, p in keep]

    def _map(self, start: int, end: int, phys: int) -> None:
        """Add logical ``[start, end)`` at ``phys``; the range must be unmapped."""
        k = bisect_left(self._starts, start)
        prev = k - 1
        if (
            prev >= 0
            and self._ends[prev] == start
            and self._phys[prev] + start - self._starts[prev] == phys
        ):
            self._ends[prev] = end
            return
        self._starts.insert(k, start)
        self._ends.insert(k, end)
        self._phys.insert(k, phys)

    # -- compaction --
    def _maybe_compact(self) -> None:
        """Keep the file under twice its live bytes plus slack; live is summed rarely."""
        if self._file.end < self._compact_at:
            return
        live = sum(e - s for s, e in zip(self._starts, self._ends, strict=True))
        if self._file.end > 2 * live + _COMPACT_SLACK:
            self._compact()
        self._compact_at = 2 * live + _COMPACT_SLACK + 1

    def _compact(self) -> None:
        """Copy the live extents into a new file under a new key, then drop the old one."""
        new = _Backing(self._directory)
        buf = _scratch_buffer()
        starts: list[int] = []
        ends: list[int] = []
        phys: list[int] = []
        try:
            for start, end, old_phys in zip(self._starts, self._ends, self._phys, strict=True):
                if ends and ends[-1] == start:
                    ends[-1] = end
                else:
                    starts.append(start)
                    ends.append(end)
                    phys.append(new.end)
                for pos in range(0, end - start, _CHUNK):
                    piece = buf[: min(_CHUNK, end - start - pos)]
                    self._file.read(old_phys + pos, piece)
                    new.append(piece, buf)
        except BaseException:
            new.close()
            raise
        self._file.close()
        self._file = new
        self._starts, self._ends, self._phys = starts, ends, phys
