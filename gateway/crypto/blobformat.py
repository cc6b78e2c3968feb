"""The chunked AEAD format of every stored blob: header, AES-256-GCM segments, trailer.

The header and the size arithmetic are in ``blobheader`` (re-exported here); this module
holds the streaming encryptor and the range decryptor.

Pure format code: no I/O of its own and no key management (the data key arrives already
unwrapped). The byte layout, the AAD and the tamper cases are documented in
docs/blob-format.md; keep the two in step.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.crypto.blobheader import (
    _DIGEST_SIZE,
    AAD_TAIL,
    FORMAT_VERSION,
    HEADER_PREFIX_LEN,
    ID_SIZE,
    KEY_SIZE,
    MAGIC,
    NONCE_SIZE,
    SEAL_SIZE,
    SEGMENT_OVERHEAD,
    SEGMENT_SIZE,
    STORED_SEGMENT_SIZE,
    TAG_SIZE,
    TRAILER_SIZE,
    BlobHeader,
    byte_view,
    check_key,
    header_aad,
    plaintext_size,
    stored_size,
)
from gateway.errors import (
    BlobFormatError,
    BlobHeaderMismatch,
    BlobIntegrityError,
    BlobTruncated,
    SegmentOutOfOrder,
    SegmentTampered,
)

_TRAILER = struct.Struct(">Q")  # plaintext size
_DIAGNOSE_ALL_UP_TO = 4096
_DIAGNOSE_WINDOW = 64
_NONCE_BATCH = 64  # nonces drawn from the OS per call
_UNBOUNDED = 1 << 63


#: the format's public names (the header and the sizes live in ``blobheader``)
__all__ = [
    "FORMAT_VERSION", "HEADER_PREFIX_LEN", "ID_SIZE", "KEY_SIZE", "MAGIC", "NONCE_SIZE",
    "SEAL_SIZE", "SEGMENT_OVERHEAD", "SEGMENT_SIZE", "STORED_SEGMENT_SIZE", "TAG_SIZE",
    "TRAILER_SIZE", "BlobDecryptor", "BlobEncryptor", "BlobHeader", "BytesSource",
    "RangeSource", "Sink", "decrypt_bytes", "encrypt_bytes", "plaintext_size", "stored_size",
]

Sink = Callable[[memoryview], object]


class RangeSource(Protocol):
    """A backend's range reader over one stored blob."""

    def readinto(self, offset: int, buf: memoryview) -> int:
        """Fill ``buf`` from ``offset``; return the byte count (short only at the end)."""
        ...


# --- encryption --------------------------------------------------------------------------
class BlobEncryptor:
    """Streams plaintext into the blob format, handing stored bytes to ``sink``.

    ``sink`` receives a memoryview of a reused buffer: it must consume or copy the bytes
    before it returns. Not thread-safe.
    """

    def __init__(self, header: BlobHeader, data_key: bytes, sink: Sink) -> None:
        check_key(data_key)
        if header.is_sealed:
            header.verify_seal(data_key)
        else:
            header = header.sealed(data_key)
        self.header = header
        encoded = header.encode()
        self.header_len = len(encoded)
        self._aead = AESGCM(data_key)
        self._aad = header_aad(encoded)
        self._sink = sink
        self._out = memoryview(bytearray(STORED_SEGMENT_SIZE + TRAILER_SIZE))
        self._full_ct = self._out[NONCE_SIZE:STORED_SEGMENT_SIZE]
        self._full_out = self._out[:STORED_SEGMENT_SIZE]
        self._nonce = self._out[:NONCE_SIZE]
        self._nonces = memoryview(b"")
        self._nonce_pos = 0
        self._plain = memoryview(bytearray(SEGMENT_SIZE))
        self._fill = 0
        self._index = 0
        self._size = 0
        self._stored = 0
        self._finished = False
        self._emit(memoryview(encoded))

    @property
    def plaintext_size(self) -> int:
        """Plaintext bytes accepted so far."""
        return self._size

    @property
    def stored_size(self) -> int:
        """Stored bytes handed to the sink so far."""
        return self._stored

    def _emit(self, view: memoryview) -> None:
        self._stored += len(view)
        self._sink(view)

    def _seal_segment(self, plain: memoryview, ct_out: memoryview, final: bool) -> None:
        """Encrypt one segment into the output buffer under a fresh random nonce."""
        AAD_TAIL.pack_into(self._aad, _DIGEST_SIZE, self._index, final)
        pos = self._nonce_pos
        if pos == len(self._nonces):
            self._nonces = memoryview(os.urandom(NONCE_SIZE * _NONCE_BATCH))
            pos = 0
        self._nonce_pos = pos + NONCE_SIZE
        self._nonce[:] = self._nonces[pos : pos + NONCE_SIZE]
        self._aead.encrypt_into(self._nonce, plain, self._aad, ct_out)
        self._index += 1

    def _full_segment(self, plain: memoryview) -> None:
        self._seal_segment(plain, self._full_ct, False)
        self._stored += STORED_SEGMENT_SIZE
        self._sink(self._full_out)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Add plaintext; full segments are emitted at once, the rest is buffered."""
        if self._finished:
            raise ValueError("write after finish")
        view = byte_view(data)
        total = len(view)
        pos = 0
        if self._fill:
            pos = min(SEGMENT_SIZE - self._fill, total)
            self._plain[self._fill : self._fill + pos] = view[:pos]
            self._fill += pos
            if self._fill < SEGMENT_SIZE:
                self._size += total
                return
            self._full_segment(self._plain)
            self._fill = 0
        while total - pos >= SEGMENT_SIZE:
            self._full_segment(view[pos : pos + SEGMENT_SIZE])
            pos += SEGMENT_SIZE
        rest = total - pos
        self._plain[:rest] = view[pos:]
        self._fill = rest
        self._size += total

    def finish(self) -> int:
        """Emit the final segment and the trailer; return the plaintext size."""
        if self._finished:
            raise ValueError("finish called twice")
        self._finished = True
        ct_end = NONCE_SIZE + self._fill + TAG_SIZE
        self._seal_segment(self._plain[: self._fill], self._out[NONCE_SIZE:ct_end], True)
        _TRAILER.pack_into(self._out, ct_end, self._size)
        self._emit(self._out[: ct_end + TRAILER_SIZE])
        return self._size


def encrypt_bytes(header: BlobHeader, data_key: bytes, data: bytes | bytearray) -> bytes:
    """Encrypt a whole plaintext in memory (tests and small blobs)."""
    out = bytearray()
    encryptor = BlobEncryptor(header, data_key, out.extend)
    encryptor.write(data)
    encryptor.finish()
    return bytes(out)


# --- decryption --------------------------------------------------------------------------
class BytesSource:
    """A :class:`RangeSource` over bytes held in memory."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = byte_view(data)

    def __len__(self) -> int:
        return len(self._data)

    def readinto(self, offset: int, buf: memoryview) -> int:
        """Copy up to ``len(buf)`` bytes from ``offset``."""
        chunk = self._data[offset : offset + len(buf)]
        buf[: len(chunk)] = chunk
        return len(chunk)


class BlobDecryptor:
    """Random-access reader of one stored blob; decrypts only the segments a read needs.

    ``stored_size`` should be the size recorded when the blob was committed, so that a
    blob the store returns shorter is reported as BlobTruncated. Reads verify every segment
    they overlap; a read reaching the end also verifies the final segment and the trailer,
    so reading a blob to its end verifies all of it. Not thread-safe (buffers are reused).
    """

    def __init__(
        self,
        source: RangeSource,
        data_key: bytes,
        header: BlobHeader,
        header_len: int,
        stored_size: int,
        expected_tenant_id: bytes,
        expected_blob_id: bytes,
        *,
        read_segments: int = 16,
    ) -> None:
        check_key(data_key)
        if header.tenant_id != bytes(expected_tenant_id):
            raise BlobHeaderMismatch("blob header names another tenant than expected")
        if header.blob_id != bytes(expected_blob_id):
            raise BlobHeaderMismatch("blob header names another blob id than expected")
        if header_len != header.encoded_len:
            raise ValueError("header_len does not match the header")
        header.verify_seal(data_key)
        self.header = header
        self.header_len = header_len
        self.stored_size = stored_size
        self._size = plaintext_size(stored_size, header_len)
        self._count = self._size // SEGMENT_SIZE + 1
        self._source = source
        self._aead = AESGCM(data_key)
        self._aad = header_aad(header.encode())
        self._batch = max(1, min(read_segments, self._count))
        area = stored_size - header_len
        buf_len = min(self._batch * STORED_SEGMENT_SIZE + TRAILER_SIZE, area)
        self._stored = memoryview(bytearray(buf_len))
        self._plain = memoryview(bytearray(min(SEGMENT_SIZE, self._size)))
        self._cached = -1

    @property
    def plaintext_size(self) -> int:
        """Plaintext bytes in the blob."""
        return self._size

    @property
    def segment_count(self) -> int:
        """Number of segments, the final (possibly empty) one included."""
        return self._count

    # -- public reads --
    def readinto(self, offset: int, buf: bytearray | memoryview) -> int:
        """Decrypt from ``offset`` into ``buf``; return bytes filled (0 at or after EOF)."""
        view = byte_view(buf)
        return self._read_range(offset, view, offset + len(view))

    def read(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` plaintext bytes from ``offset``."""
        if length < 0:
            raise ValueError("negative length")
        out = bytearray(max(0, min(length, self._size - offset)))
        self._read_range(offset, memoryview(out), offset + length)
        return bytes(out)

    def iter_range(
        self, offset: int, length: int | None = None, *, chunk: int = 1 << 20
    ) -> Iterator[bytes]:
        """Yield the plaintext of ``[offset, offset+length)`` (to EOF if None) in chunks."""
        if chunk <= 0:
            raise ValueError("chunk must be positive")
        want_end = _UNBOUNDED if length is None else offset + length
        end = min(want_end, self._size)
        if offset >= end:
            if want_end > offset:
                self._read_range(offset, memoryview(bytearray()), want_end)
            return
        view = memoryview(bytearray(min(chunk, end - offset)))
        pos = offset
        while pos < end:
            n = min(chunk, end - pos)
            self._read_range(pos, view[:n], want_end if pos + n == end else pos + n)
            yield bytes(view[:n])
            pos += n

    def verify(self) -> None:
        """Decrypt the whole blob, discarding plaintext; raise on any integrity error."""
        for _ in self.iter_range(0):
            pass

    # -- range logic --
    def _read_range(self, offset: int, out: memoryview, want_end: int) -> int:
        if offset < 0:
            raise ValueError("negative offset")
        if want_end <= offset or offset > self._size:
            return 0
        end = min(want_end, self._size, offset + len(out))
        first = min(offset // SEGMENT_SIZE, self._count - 1)
        last = self._count - 1 if want_end >= self._size else (end - 1) // SEGMENT_SIZE
        index = first
        while index <= last:
            if index == self._cached:
                self._copy_plain(index, offset, end, out)
                index += 1
                continue
            stop = min(last, index + self._batch - 1)
            stored = self._fetch(index, stop)
            for k in range(index, stop + 1):
                rel = (k - index) * STORED_SEGMENT_SIZE
                self._deliver(k, stored[rel:], offset, end, out)
            index = stop + 1
        return max(0, end - offset)

    def _plain_len(self, index: int) -> int:
        if index < self._count - 1:
            return SEGMENT_SIZE
        return self._size - index * SEGMENT_SIZE

    def _fetch(self, first: int, last: int) -> memoryview:
        """Read the stored bytes of segments first..last (and the trailer after the final)."""
        start = self.header_len + first * STORED_SEGMENT_SIZE
        length = (last - first) * STORED_SEGMENT_SIZE + self._plain_len(last) + SEGMENT_OVERHEAD
        if last == self._count - 1:
            length += TRAILER_SIZE
        view = self._stored[:length]
        got = 0
        while got < length:
            n = self._source.readinto(start + got, view[got:])
            if n <= 0:
                seg = first + got // STORED_SEGMENT_SIZE
                raise BlobTruncated(
                    f"blob ends at byte {start + got} of {self.stored_size} (in segment {seg})"
                )
            got += n
        return view

    def _deliver(
        self, index: int, stored: memoryview, offset: int, end: int, out: memoryview
    ) -> None:
        """Authenticate segment ``index`` and copy its wanted part into ``out``."""
        plen = self._plain_len(index)
        seg = stored[: plen + SEGMENT_OVERHEAD]
        trailer = stored[len(seg) : len(seg) + TRAILER_SIZE] if index == self._count - 1 else None
        seg_start = index * SEGMENT_SIZE
        lo = max(offset - seg_start, 0)
        hi = min(end - seg_start, plen)
        if lo == 0 and hi == plen:
            dst = seg_start - offset
            self._open(index, seg, out[dst : dst + plen], trailer)
            return
        self._open(index, seg, self._plain[:plen], trailer)
        self._cached = index
        if hi > lo:
            out[seg_start + lo - offset : seg_start + hi - offset] = self._plain[lo:hi]

    def _copy_plain(self, index: int, offset: int, end: int, out: memoryview) -> None:
        seg_start = index * SEGMENT_SIZE
        lo = max(offset - seg_start, 0)
        hi = min(end - seg_start, self._plain_len(index))
        if hi > lo:
            out[seg_start + lo - offset : seg_start + hi - offset] = self._plain[lo:hi]

    # -- authentication and diagnosis --
    def _try_open(self, index: int, final: bool, seg: memoryview, dst: memoryview) -> bool:
        AAD_TAIL.pack_into(self._aad, _DIGEST_SIZE, index, final)
        try:
            self._aead.decrypt_into(seg[:NONCE_SIZE], seg[NONCE_SIZE:], self._aad, dst)
        except InvalidTag:
            return False
        return True

    def _open(
        self, index: int, seg: memoryview, dst: memoryview, trailer: memoryview | None
    ) -> None:
        final = trailer is not None
        if not self._try_open(index, final, seg, dst):
            dst[:] = bytes(len(dst))  # leave no unauthenticated plaintext behind
            raise self._diagnose(index, seg, trailer)
        if final and bytes(trailer) != _TRAILER.pack(self._size):
            raise BlobFormatError("blob trailer is damaged: it does not match the blob size")

    def _candidates(self, index: int) -> Iterator[int]:
        """Other non-final positions a misplaced segment may come from, nearest first."""
        last_full = self._count - 2
        bound = last_full if self._count <= _DIAGNOSE_ALL_UP_TO else _DIAGNOSE_WINDOW
        for distance in range(1, bound + 1):
            for j in (index - distance, index + distance):
                if 0 <= j <= last_full:
                    yield j

    def _diagnose(
        self, index: int, seg: memoryview, trailer: memoryview | None
    ) -> BlobIntegrityError:
        """Name what went wrong with a segment that failed authentication (failure path)."""
        self._cached = -1
        scratch = self._plain[: len(seg) - SEGMENT_OVERHEAD]
        if trailer is not None:
            if bytes(trailer) != _TRAILER.pack(self._size):
                return BlobTruncated(
                    f"blob does not end where its size says (cut inside segment {index})"
                )
            return SegmentTampered(f"segment {index} (final) failed authentication")
        for j in self._candidates(index):
            if self._try_open(j, False, seg, scratch):
                return SegmentOutOfOrder(f"segment {j} is stored at position {index}")
        return SegmentTampered(
            f"segment {index} failed authentication: modified or taken from another blob"
        )


def decrypt_bytes(
    blob: bytes | bytearray,
    data_key: bytes,
    expected_tenant_id: bytes,
    expected_blob_id: bytes,
) -> bytes:
    """Verify and decrypt a whole stored blob held in memory (tests and small blobs)."""
    header_len = BlobHeader.read_length(blob[:HEADER_PREFIX_LEN])
    header = BlobHeader.decode(blob)
    decryptor = BlobDecryptor(
        BytesSource(blob),
        data_key,
        header,
        header_len,
        len(blob),
        expected_tenant_id,
        expected_blob_id,
    )
    return b"".join(decryptor.iter_range(0))
