"""The clear-text header of a blob and the sizes of the format (docs/blob-format.md).

``BlobHeader`` (encode, decode, seal under the data key), the format's constants, and the
size arithmetic between plaintext and stored bytes; ``gateway.crypto.blobformat`` builds the
encryptor and decryptor on top and re-exports these names.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import BlobFormatError, BlobTruncated

MAGIC = b"LMXB"
FORMAT_VERSION = 1
SEGMENT_SIZE = 65536
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
ID_SIZE = 16
SEGMENT_OVERHEAD = NONCE_SIZE + TAG_SIZE
STORED_SEGMENT_SIZE = SEGMENT_SIZE + SEGMENT_OVERHEAD
SEAL_SIZE = NONCE_SIZE + TAG_SIZE
TRAILER_SIZE = 8
MAX_WRAPPED_KEY = 0xFFFF
MAX_KEY_VERSION = 0xFFFFFFFF

# magic, version, flags, segment size, tenant id, blob id, key version, wrapped key length
_FIXED = struct.Struct(">4sBBI16s16sIH")
#: bytes a reader must fetch before :meth:`BlobHeader.read_length` can tell the header length
HEADER_PREFIX_LEN = _FIXED.size
_DIGEST_SIZE = 32
AAD_TAIL = struct.Struct(">QB")  # segment index, final flag

def check_key(data_key: bytes) -> None:
    if len(data_key) != KEY_SIZE:
        raise ValueError("data key must be 32 bytes (AES-256)")


def byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = data if isinstance(data, memoryview) else memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


# --- header ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlobHeader:
    """The clear-text header of a blob; ``seal`` authenticates it under the data key.

    A header built by a writer is unsealed (``seal == b""``); :class:`BlobEncryptor` seals it.
    A decoded header carries the stored seal, checked by :class:`BlobDecryptor`.
    """

    tenant_id: bytes
    blob_id: bytes
    key_version: int
    wrapped_key: bytes = field(repr=False)
    seal: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        for name in ("tenant_id", "blob_id", "wrapped_key", "seal"):
            object.__setattr__(self, name, bytes(getattr(self, name)))
        if len(self.tenant_id) != ID_SIZE or len(self.blob_id) != ID_SIZE:
            raise ValueError("tenant_id and blob_id must be 16 bytes (UUID bytes)")
        if not 0 <= self.key_version <= MAX_KEY_VERSION:
            raise ValueError("key_version must fit in an unsigned 32-bit integer")
        if len(self.wrapped_key) > MAX_WRAPPED_KEY:
            raise ValueError("wrapped_key is longer than 65535 bytes")
        if self.seal and len(self.seal) != SEAL_SIZE:
            raise ValueError("seal must be 28 bytes (nonce and tag)")

    @property
    def encoded_len(self) -> int:
        """Length of the encoded (sealed) header in bytes."""
        return HEADER_PREFIX_LEN + len(self.wrapped_key) + SEAL_SIZE

    @property
    def is_sealed(self) -> bool:
        """Whether the header carries a seal."""
        return bool(self.seal)

    def _body(self) -> bytes:
        fixed = _FIXED.pack(
            MAGIC,
            FORMAT_VERSION,
            0,
            SEGMENT_SIZE,
            self.tenant_id,
            self.blob_id,
            self.key_version,
            len(self.wrapped_key),
        )
        return fixed + self.wrapped_key

    def sealed(self, data_key: bytes) -> BlobHeader:
        """Return a copy sealed with ``data_key`` (GCM tag over the header, random nonce)."""
        check_key(data_key)
        nonce = os.urandom(NONCE_SIZE)
        tag = AESGCM(data_key).encrypt(nonce, b"", self._body())
        return replace(self, seal=nonce + tag)

    def verify_seal(self, data_key: bytes) -> None:
        """Raise BlobFormatError unless the seal authenticates this header under ``data_key``."""
        check_key(data_key)
        if not self.seal:
            raise BlobFormatError("blob header is not sealed")
        try:
            AESGCM(data_key).decrypt(self.seal[:NONCE_SIZE], self.seal[NONCE_SIZE:], self._body())
        except InvalidTag:
            raise BlobFormatError(
                "blob header failed authentication: it was modified or belongs to another key"
            ) from None

    def encode(self) -> bytes:
        """The header bytes as stored; the header must be sealed."""
        if not self.seal:
            raise ValueError("header is not sealed; use sealed() or BlobEncryptor")
        return self._body() + self.seal

    @staticmethod
    def read_length(prefix: bytes | bytearray | memoryview) -> int:
        """Total header length, from the first :data:`HEADER_PREFIX_LEN` bytes of a blob."""
        head = bytes(prefix[:HEADER_PREFIX_LEN])
        if not MAGIC.startswith(head[: len(MAGIC)]):
            raise BlobFormatError("not a Lumanox blob (bad magic)")
        if len(head) < HEADER_PREFIX_LEN:
            raise BlobTruncated(f"blob ends inside its header ({len(head)} bytes)")
        magic, version, flags, seg_size, _t, _b, _v, wk_len = _FIXED.unpack(head)
        if magic != MAGIC:
            raise BlobFormatError("not a Lumanox blob (bad magic)")
        if version != FORMAT_VERSION:
            raise BlobFormatError(f"unsupported blob format version {version}")
        if flags != 0:
            raise BlobFormatError(f"unsupported blob header flags {flags:#04x}")
        if seg_size != SEGMENT_SIZE:
            raise BlobFormatError(f"unsupported segment size {seg_size}")
        return HEADER_PREFIX_LEN + wk_len + SEAL_SIZE

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> BlobHeader:
        """Parse a header from the start of ``data`` (trailing bytes are ignored)."""
        length = cls.read_length(data)
        if len(data) < length:
            raise BlobTruncated(f"blob ends inside its header ({len(data)} of {length} bytes)")
        raw = bytes(data[:length])
        _m, _v, _f, _s, tenant_id, blob_id, key_version, wk_len = _FIXED.unpack_from(raw)
        wk_end = HEADER_PREFIX_LEN + wk_len
        return cls(tenant_id, blob_id, key_version, raw[HEADER_PREFIX_LEN:wk_end], raw[wk_end:])


# --- sizes -------------------------------------------------------------------------------
def stored_size(plaintext_size: int, header_len: int = 0) -> int:
    """Stored bytes of a blob of ``plaintext_size`` bytes (header included if given)."""
    if plaintext_size < 0 or header_len < 0:
        raise ValueError("sizes must not be negative")
    full, rest = divmod(plaintext_size, SEGMENT_SIZE)
    return header_len + full * STORED_SEGMENT_SIZE + rest + SEGMENT_OVERHEAD + TRAILER_SIZE


def plaintext_size(stored_size: int, header_len: int) -> int:
    """Plaintext bytes of a stored blob; BlobTruncated if no blob can have that size."""
    area = stored_size - header_len - TRAILER_SIZE
    if area < SEGMENT_OVERHEAD:
        raise BlobTruncated(f"blob of {stored_size} bytes is too short to hold its last segment")
    full, rem = divmod(area, STORED_SEGMENT_SIZE)
    if rem < SEGMENT_OVERHEAD:
        raise BlobTruncated(f"blob of {stored_size} bytes has no room for its last segment")
    return full * SEGMENT_SIZE + rem - SEGMENT_OVERHEAD


def header_aad(encoded_header: bytes) -> bytearray:
    """The per-segment AAD buffer: header digest, then room for index and final flag."""
    return bytearray(hashlib.sha256(encoded_header).digest() + bytes(AAD_TAIL.size))
