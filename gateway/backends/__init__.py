"""Blob stores: opaque encrypted blobs, no knowledge of users, paths or keys."""

from __future__ import annotations

from gateway.backends import registry
from gateway.backends.base import BlobInfo, BlobSink, BlobSource, BlobStore, TempSweep
from gateway.backends.local import LocalBlobStore
from gateway.backends.registry import load

__all__ = ["BlobInfo", "BlobSink", "BlobSource", "BlobStore", "LocalBlobStore", "TempSweep",
           "load", "registry"]
