"""Encrypted blob I/O: the blob format + the keyring + a blob store, in one place.

``BlobWriter`` streams plaintext into a new encrypted blob and returns a ``BlobRecord``
(what the catalog stores). ``BlobReader`` opens a blob for random-access reads that decrypt
only the segments a range touches.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from gateway.backends.base import BlobSource, BlobStore
from gateway.crypto.blobformat import BlobDecryptor, BlobEncryptor, BlobHeader
from gateway.errors import BlobFormatError
from gateway.keyring import Keyring

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
    sha256: str


class BlobWriter:
    """Encrypt a stream of plaintext into a new blob. Invisible until ``finish``."""

    def __init__(self, store: BlobStore, keyring: Keyring, tenant_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.blob_id = uuid.uuid4().hex
        dk = keyring.new_data_key(tenant_id, self.blob_id)
        self._key_version, self._wrapped = dk.version, dk.wrapped
        header = BlobHeader(uuid.UUID(hex=tenant_id).bytes, uuid.UUID(hex=self.blob_id).bytes,
                            dk.version, dk.wrapped)
        self._sink = store.create(self.blob_id)
        self._sha = hashlib.sha256()
        self._enc = BlobEncryptor(header, dk.key, self._sink.write)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._sha.update(data)
        self._enc.write(data)
        self.size += len(data)

    def finish(self) -> BlobRecord:
        size = self._enc.finish()
        stored = self._sink.commit()
        return BlobRecord(self.blob_id, self.tenant_id, size, stored, self._key_version,
                          self._wrapped, self._sha.hexdigest())

    def abort(self) -> None:
        self._sink.abort()


class BlobReader:
    """Random-access plaintext view of one stored blob."""

    def __init__(self, store: BlobStore, keyring: Keyring, tenant_id: str, blob_id: str,
                 key_version: int, wrapped_key: bytes, stored_size: int | None = None) -> None:
        """``stored_size`` is the size the catalog recorded at commit: a blob the store
        returns shorter or longer is then reported as cut at any range, not only at the end."""
        self._source: BlobSource = store.open(blob_id)
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
