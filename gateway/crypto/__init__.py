"""Encryption at rest: the chunked AEAD blob format and the encrypted scratch spool."""

from gateway.crypto.blobformat import (
    HEADER_PREFIX_LEN,
    SEGMENT_SIZE,
    BlobDecryptor,
    BlobEncryptor,
    BlobHeader,
    BytesSource,
    RangeSource,
    decrypt_bytes,
    encrypt_bytes,
    plaintext_size,
    stored_size,
)
from gateway.crypto.spool import EncryptedSpool

__all__ = [
    "HEADER_PREFIX_LEN",
    "SEGMENT_SIZE",
    "BlobDecryptor",
    "BlobEncryptor",
    "BlobHeader",
    "BytesSource",
    "EncryptedSpool",
    "RangeSource",
    "decrypt_bytes",
    "encrypt_bytes",
    "plaintext_size",
    "stored_size",
]
