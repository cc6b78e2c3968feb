"""The blob store interface: opaque, immutable, encrypted blobs under random ids.

A backend knows nothing about users, tenants, paths or keys. It needs no rename and no
append: a blob is written once as a stream (``create`` -> ``write``... -> ``commit``),
which fits a local directory (temp file + rename) as well as an S3 multipart upload.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class BlobInfo:
    blob_id: str
    size: int
    modified: datetime


class BlobSink(abc.ABC):
    """A blob being written. Invisible until ``commit``; ``abort`` leaves nothing behind."""

    @abc.abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    @abc.abstractmethod
    def commit(self) -> int:
        """Make the blob durable and visible; returns its stored size."""

    @abc.abstractmethod
    def abort(self) -> None: ...


class BlobSource(abc.ABC):
    """Random access to one stored blob."""

    size: int

    @abc.abstractmethod
    def readinto(self, offset: int, buf: memoryview) -> int:
        """Fill ``buf`` from ``offset``; short only at the end of the blob."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> BlobSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlobStore(abc.ABC):
    """Where blobs live."""

    name: str = "abstract"

    @abc.abstractmethod
    def create(self, blob_id: str) -> BlobSink: ...

    @abc.abstractmethod
    def open(self, blob_id: str) -> BlobSource:
        """Raises ``BlobNotFound`` if there is no such blob."""

    @abc.abstractmethod
    def delete(self, blob_id: str) -> None:
        """Remove a blob; a missing blob is not an error."""

    @abc.abstractmethod
    def enumerate(self) -> Iterator[BlobInfo]:
        """Every committed blob (for the orphan sweeper)."""

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise ``BackendError`` if the store is not usable (startup check)."""
