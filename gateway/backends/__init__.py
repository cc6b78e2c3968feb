"""Blob stores: opaque encrypted blobs, no knowledge of users, paths or keys."""

from __future__ import annotations

from gateway.backends.base import BlobInfo, BlobSink, BlobSource, BlobStore
from gateway.backends.local import LocalBlobStore

__all__ = ["BlobInfo", "BlobSink", "BlobSource", "BlobStore", "LocalBlobStore", "open_store"]


def open_store(kind: str, **options: object) -> BlobStore:
    """The blob store named in the configuration."""
    if kind == "local":
        return LocalBlobStore(options["path"])  # type: ignore[arg-type]
    raise ValueError(f"unknown blob store {kind!r}")
