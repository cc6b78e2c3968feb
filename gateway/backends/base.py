"""The blob store interface: opaque, immutable, encrypted blobs under random ids.

A backend knows nothing about users, tenants, paths or keys. It needs no rename and no
append: a blob is written once as a stream (``create`` -> ``write``... -> ``commit``),
which fits a local directory (temp file + rename) as well as an S3 multipart upload.

Stores are chosen by name (``gateway.backends.load``); optional capabilities (free space,
temp sweeping) are methods every store has, answering ``None`` when it lacks them, so
callers ask the interface and never test for a class. The contract every store must meet
is written down in docs/backends.md and checked by tests/backends/test_contract.py.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from gateway.config import Config


@dataclass(frozen=True)
class BlobInfo:
    blob_id: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class TempSweep:
    """What a temp sweep removed (or would remove), and what it kept as too young."""

    removed: int
    removed_bytes: int
    kept_young: int


class BlobSink(abc.ABC):
    """A blob being written. Invisible until ``commit``; ``abort`` leaves nothing behind.

    ``write`` or ``commit`` after ``commit``/``abort`` raises ``BackendError``; ``abort`` is
    idempotent and a no-op after a successful ``commit`` (so ``except: abort()`` is safe).
    """

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
    """Where blobs live. Blob ids are 32 lowercase hex digits; any other id raises
    ``BackendError`` from ``create``, ``open`` and ``delete``."""

    #: the name that selects the store in ``[storage] backend``
    name: ClassVar[str] = "abstract"
    #: the keys its ``[storage.<name>]`` section accepts, with their defaults (types checked)
    options: ClassVar[dict[str, Any]] = {}

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: Config, options: dict[str, Any]) -> BlobStore:
        """Build the store from the gateway config and its validated section."""

    @classmethod
    def validate_options(cls, config: Config, options: dict[str, Any]) -> str | None:
        """A one-line problem with the section's values (types are already checked),
        naming the key and the fix; ``None`` when they are fine."""
        return None

    @abc.abstractmethod
    def create(self, blob_id: str) -> BlobSink:
        """Start writing a blob. Committing an id that exists replaces it atomically (last
        commit wins); readers see one writer's whole blob, never a mix."""

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

    def describe(self) -> dict[str, Any]:
        """Where the store is, for ``status`` (never credentials)."""
        return {"backend": self.name}

    # --- optional capabilities: ``None`` means the store does not have it ----------------
    def free_bytes(self) -> int | None:
        """Space left for new blobs, or ``None`` when unknown/unbounded."""
        return None

    def sweep_temp(self, min_age_s: float, dry_run: bool) -> TempSweep | None:
        """Remove leftovers of writers that never committed nor aborted (a crash) older
        than ``min_age_s``; ``None`` if the store keeps no such state."""
        return None
