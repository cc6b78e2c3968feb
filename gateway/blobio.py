"""Encrypted blob I/O: the blob format + the keyring + a blob store, in one place.

``BlobWriter`` streams plaintext into a new encrypted blob and returns a ``BlobRecord``
(what the catalog stores). ``BlobReader`` opens a blob for random-access reads that decrypt
only the segments a range touches.

Small blobs (up to ``inline_max`` plaintext bytes) never reach the blob store: their
ciphertext, in the same format, is kept in memory and committed inside the catalog
transaction that makes the file visible. One transaction instead of a file create, two
fsyncs, a rename and a later unlink; and no orphan is possible.
"""

from __future__ import annotations

import queue
import threading
import uuid
from dataclasses import dataclass

from gateway.backends.base import BlobSink, BlobSource, BlobStore
from gateway.crypto.blobformat import BlobDecryptor, BlobEncryptor, BlobHeader
from gateway.errors import BlobFormatError
from gateway.keyring import Keyring, new_content_mac

HEADER_PROBE = 4096


@dataclass(frozen=True)
class BlobRecord:
    """A committed blob as the catalog records it."""

    id: str
    tenant_id: str
    size: int
    stored_size: int
    key_version: int
    wrapped_key: bytes
    content_mac: str  # HMAC-SHA256 of the plaintext under the tenant's content-MAC key
    inline: bytes | None = None  # the ciphertext, when kept in the catalog
    store: str = "default"  # the named blob store that holds it (gateway/backends/stores.py)

    @property
    def in_store(self) -> bool:
        """True when the blob lives in the blob store (and must be deleted there)."""
        return self.inline is None


class BlobWriter:
    """Encrypt a stream of plaintext into a new blob. Invisible until ``finish``.

    Small blobs are encrypted in the caller's thread. Once a blob passes
    ``PIPELINE_AFTER`` bytes, encryption and the store's writes move to a helper thread
    fed through a short bounded queue, so that hashing (the content MAC, in the caller's thread),
    encrypting and writing run on different cores (all three release the GIL).
    """

    PIPELINE_AFTER = 4 * 1024 * 1024
    QUEUE_CHUNKS = 8

    def __init__(self, store: BlobStore, keyring: Keyring, tenant_id: str,
                 inline_max: int = 0, store_name: str = "default") -> None:
        self.store = store
        self.store_name = store_name
        self.tenant_id = tenant_id
        self.blob_id = uuid.uuid4().hex
        dk = keyring.new_data_key(tenant_id, self.blob_id)
        self._key_version, self._wrapped = dk.version, dk.wrapped
        header = BlobHeader(uuid.UUID(hex=tenant_id).bytes, uuid.UUID(hex=self.blob_id).bytes,
                            dk.version, dk.wrapped)
        self._inline_max = max(0, inline_max)
        self._memory: bytearray | None = bytearray() if self._inline_max else None
        self._sink: BlobSink | None = None if self._inline_max else store.create(self.blob_id)
        self._mac = new_content_mac(keyring.content_mac_key(tenant_id))
        self._enc = BlobEncryptor(header, dk.key, self._emit)
        self.size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        if self._sink is not None:
            self._sink.write(data)
        else:
            assert self._memory is not None
            self._memory += data

    def _spill(self) -> None:
        """Too big for the catalog: move what is buffered into a real store blob."""
        sink = self.store.create(self.blob_id)
        try:
            if self._memory:
                sink.write(self._memory)
        except BaseException:
            sink.abort()
            raise
        self._sink, self._memory = sink, None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._mac.update(data)
        self.size += len(data)
        if self._sink is None and self.size > self._inline_max:
            self._spill()
        if self._queue is None:
            if self.size <= self.PIPELINE_AFTER:
                self._enc.write(data)
                return
            self._start_pipeline()
            assert self._queue is not None
        if self._error is not None:
            raise self._error
        self._queue.put(bytes(data))  # a copy: the caller may reuse its buffer

    def _start_pipeline(self) -> None:
        self._queue = queue.Queue(maxsize=self.QUEUE_CHUNKS)
        self._worker = threading.Thread(target=self._pump, name="blob-writer", daemon=True)
        self._worker.start()

    def _pump(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._enc.write(chunk)
                except BaseException as exc:  # reported to the writer's thread
                    self._error = exc

    def _drain(self) -> None:
        if self._queue is not None and self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._queue = self._worker = None
        if self._error is not None:
            raise self._error

    def finish(self) -> BlobRecord:
        self._drain()
        size = self._enc.finish()
        if self._sink is None:
            assert self._memory is not None
            inline = bytes(self._memory)
            self._memory = None
            return BlobRecord(self.blob_id, self.tenant_id, size, len(inline),
                              self._key_version, self._wrapped, self._mac.hexdigest(), inline,
                              self.store_name)
        stored = self._sink.commit()
        return BlobRecord(self.blob_id, self.tenant_id, size, stored, self._key_version,
                          self._wrapped, self._mac.hexdigest(), None, self.store_name)

    def abort(self) -> None:
        try:
            self._drain()
        except BaseException:  # noqa: S110 - aborting anyway
            pass
        finally:
            self._memory = None
            if self._sink is not None:
                self._sink.abort()


class BlobReader:
    """Random-access plaintext view of one stored blob."""

    def __init__(self, store: BlobStore, keyring: Keyring, tenant_id: str, blob_id: str,
                 key_version: int, wrapped_key: bytes, stored_size: int | None = None,
                 inline: bytes | None = None) -> None:
        """``stored_size`` is the size the catalog recorded at commit: a blob the store
        returns shorter or longer is then reported as cut at any range, not only at the end.
        ``inline`` is the ciphertext of a blob kept in the catalog (the store is not used)."""
        self._source: BlobSource = (store.open(blob_id) if inline is None
                                    else MemoryBlobSource(inline))
        try:
            header, header_len = read_header(self._source)
            key = keyring.unwrap_data_key(tenant_id, blob_id, key_version, wrapped_key)
            self._dec = BlobDecryptor(
                self._source, key, header, header_len,
                self._source.size if stored_size is None else stored_size,
                uuid.UUID(hex=tenant_id).bytes, uuid.UUID(hex=blob_id).bytes)
        except BaseException:
            self._source.close()
            raise
        self.size: int = self._dec.plaintext_size

    def readinto(self, offset: int, buf: memoryview) -> int:
        return self._dec.readinto(offset, buf)

    def read(self, offset: int, length: int) -> bytes:
        return self._dec.read(offset, length)

    def iter_range(self, offset: int, length: int, chunk: int = 262144):  # type: ignore[no-untyped-def]
        return self._dec.iter_range(offset, length, chunk=chunk)

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryBlobSource(BlobSource):
    """A blob whose ciphertext is already in memory (kept inline in the catalog)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.size = len(data)

    def readinto(self, offset: int, buf: memoryview) -> int:
        chunk = self._data[offset: offset + len(buf)]
        buf[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        pass


def read_header(source: BlobSource) -> tuple[BlobHeader, int]:
    probe = bytearray(min(HEADER_PROBE, source.size))
    n = source.readinto(0, memoryview(probe))
    length = BlobHeader.read_length(bytes(probe[:n]))
    if length > n:
        if length > source.size:
            raise BlobFormatError("blob is shorter than its header")
        probe = bytearray(length)
        source.readinto(0, memoryview(probe))
    return BlobHeader.decode(bytes(probe[:length])), length
