"""A blob store that times what the store it wraps does: ``put`` (create, writes and
commit of one blob, the store's own time only), ``get`` (open and reads of one blob) and
``delete``, labelled with the store's configured name (``default`` or a ``[stores.<name>]``:
as many label values as configured stores). Everything else is passed through."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import Histogram

from gateway.backends import BlobInfo, BlobSink, BlobSource, BlobStore, TempSweep
from gateway.config import Config
from gateway.metrics import families as f

_clock = time.perf_counter


class TimedSink(BlobSink):
    def __init__(self, inner: BlobSink, spent: float, put: Histogram) -> None:
        self._inner, self._spent, self._put = inner, spent, put

    def write(self, data: bytes | bytearray | memoryview) -> None:
        t = _clock()
        try:
            self._inner.write(data)
        finally:
            self._spent += _clock() - t

    def commit(self) -> int:
        t = _clock()
        size = self._inner.commit()
        self._put.observe(self._spent + _clock() - t)
        return size

    def abort(self) -> None:
        self._inner.abort()


class TimedSource(BlobSource):
    def __init__(self, inner: BlobSource, spent: float, get: Histogram) -> None:
        self._inner, self._spent, self._get = inner, spent, get
        self.size = inner.size
        self._closed = False

    def readinto(self, offset: int, buf: memoryview) -> int:
        t = _clock()
        try:
            return self._inner.readinto(offset, buf)
        finally:
            self._spent += _clock() - t

    def close(self) -> None:
        self._inner.close()
        if not self._closed:
            self._closed = True
            self._get.observe(self._spent)


class TimedStore(BlobStore):
    """Wraps one of the process's stores (``gateway.metrics.process.install``), called
    ``store`` in the configuration."""

    def __init__(self, inner: BlobStore, store: str = "default") -> None:
        self.inner = inner
        self.name = inner.name
        self._put, self._get, self._delete = (f.STORE.labels(op=op, store=store)
                                              for op in ("put", "get", "delete"))

    @classmethod
    def from_config(cls, config: Config, options: dict[str, Any]) -> BlobStore:
        raise NotImplementedError("TimedStore wraps a store; it is never configured")

    def create(self, blob_id: str) -> BlobSink:
        t = _clock()
        sink = self.inner.create(blob_id)
        return TimedSink(sink, _clock() - t, self._put)

    def open(self, blob_id: str) -> BlobSource:
        t = _clock()
        source = self.inner.open(blob_id)
        return TimedSource(source, _clock() - t, self._get)

    def delete(self, blob_id: str) -> None:
        t = _clock()
        self.inner.delete(blob_id)
        self._delete.observe(_clock() - t)

    def enumerate(self) -> Iterator[BlobInfo]:
        return self.inner.enumerate()

    def check(self) -> None:
        self.inner.check()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def free_bytes(self) -> int | None:
        return self.inner.free_bytes()

    def sweep_temp(self, min_age_s: float, dry_run: bool) -> TempSweep | None:
        return self.inner.sweep_temp(min_age_s, dry_run)
