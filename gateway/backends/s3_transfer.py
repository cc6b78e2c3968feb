"""Streaming transfers of the s3 store: a multipart writer with bounded memory and a
reader that serves the blob reader's 64 KiB segments from large ranged GETs.

Writer memory is at most ``part_size`` x (``parts_in_flight`` + 1): one part being filled
plus at most ``parts_in_flight`` parts uploading; ``write`` blocks while they are all busy.
A blob smaller than one part is sent as a single PUT at ``commit``; a writer that dies
before its first part leaves nothing anywhere. A failed writer aborts its multipart upload;
one that crashed is found by ``sweep_temp`` (ListMultipartUploads).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Executor, Future
from typing import Any, Protocol

from gateway.backends import s3_client as c
from gateway.backends.base import BlobSink, BlobSource
from gateway.errors import BackendError, BlobNotFound


class S3Bucket(Protocol):
    """What a transfer needs of its store (``gateway.backends.s3.S3BlobStore``)."""

    opts: dict[str, Any]
    client: Any
    bucket: str
    pool: Executor


class S3BlobSink(BlobSink):
    def __init__(self, store: S3Bucket, key: str) -> None:
        self._store, self._key = store, key
        self._part_size = store.opts["part_size"]
        self._buf, self._fill = bytearray(), 0
        self._size = 0
        self._upload_id: str | None = None
        self._parts: list[tuple[int, Future[str]]] = []
        self._slots = threading.BoundedSemaphore(store.opts["parts_in_flight"])
        self._error: BackendError | None = None
        self._open = True

    def _check_open(self, action: str) -> None:
        if not self._open:
            raise BackendError(f"{action} on a blob that was already committed or aborted")
        if self._error is not None:
            error = self._error
            self.abort()
            raise error

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._check_open("write")
        view = memoryview(data).cast("B")
        self._size += len(view)
        while len(view):
            n = min(len(view), self._part_size - self._fill)
            if self._fill + n > len(self._buf):
                self._grow(self._fill + n)
            self._buf[self._fill:self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == self._part_size:
                body, self._buf, self._fill = self._buf, bytearray(), 0  # handed over
                self._send_part(body)
                self._check_open("write")

    def _grow(self, need: int) -> None:
        """Exact-size buffers (no over-allocation): the first part starts small and
        doubles, so a small blob costs what it holds; later parts get a whole part."""
        size = self._part_size if self._parts else min(
            self._part_size, max(need, 2 * len(self._buf), 256 * 1024))
        grown = bytearray(size)
        grown[:self._fill] = memoryview(self._buf)[:self._fill]
        self._buf = grown

    def _tail(self) -> bytearray:
        """The part being filled, cut to its length in place."""
        body, self._buf = self._buf, bytearray()
        del body[self._fill:]
        self._fill = 0
        return body

    def _send_part(self, body: bytearray) -> None:
        store = self._store
        if self._upload_id is None:
            resp = c.call_retrying("create-multipart-upload", store.opts["max_attempts"],
                                   store.client.create_multipart_upload,
                                   Bucket=store.bucket, Key=self._key)
            self._upload_id = resp["UploadId"]
            # the first part synchronously: an upload is never left without a part (its
            # latest part dates its activity for ``sweep_temp``)
            done: Future[str] = Future()
            self._slots.acquire()
            done.set_result(self._upload_part(1, body))
            self._parts.append((1, done))
            return
        number = len(self._parts) + 1
        self._slots.acquire()  # at most parts_in_flight parts (and their buffers) alive
        try:
            future = store.pool.submit(self._upload_part, number, body)
        except BaseException:
            self._slots.release()
            raise
        self._parts.append((number, future))

    def _upload_part(self, number: int, body: bytearray) -> str:
        store = self._store
        try:
            resp = c.call_retrying("upload-part", store.opts["max_attempts"],
                                   store.client.upload_part, Bucket=store.bucket,
                                   Key=self._key, UploadId=self._upload_id,
                                   PartNumber=number, Body=body)
            return str(resp["ETag"])
        except BackendError as exc:
            self._error = self._error or exc
            raise
        finally:
            self._slots.release()

    def commit(self) -> int:
        self._check_open("commit")
        store = self._store
        try:
            if self._upload_id is None:
                c.call_retrying("put", store.opts["max_attempts"], store.client.put_object,
                                Bucket=store.bucket, Key=self._key, Body=self._tail())
            else:
                if self._fill:
                    self._send_part(self._tail())
                etags = [{"PartNumber": n, "ETag": f.result()} for n, f in self._parts]
                c.call_retrying("complete-multipart-upload", store.opts["max_attempts"],
                                store.client.complete_multipart_upload, Bucket=store.bucket,
                                Key=self._key, UploadId=self._upload_id,
                                MultipartUpload={"Parts": etags})
        except BaseException:
            self.abort()
            raise
        self._open = False
        self._buf = bytearray()
        return self._size

    def abort(self) -> None:
        """Drop the buffer, wait for parts in flight, abort the multipart upload. If S3 is
        unreachable the upload stays for ``sweep_temp``; abort itself never raises."""
        if not self._open:
            return
        self._open = False
        self._buf = bytearray()
        for _n, future in self._parts:
            future.cancel()
            with contextlib.suppress(Exception):
                future.result()
        if self._upload_id is not None:
            store = self._store
            with contextlib.suppress(BackendError):
                c.call("abort-multipart-upload", store.client.abort_multipart_upload,
                       Bucket=store.bucket, Key=self._key, UploadId=self._upload_id)


class S3BlobSource(BlobSource):
    """A window of ``read_ahead`` bytes is fetched with one ranged GET and segments are
    served from it; once a reader is past its middle the next window is fetched in the
    background (memory per reader: two windows).
    Later GETs carry ``If-Match`` on the ETag seen first, so a blob replaced under an open
    reader fails with ``BlobNotFound`` instead of mixing two versions."""

    def __init__(self, store: S3Bucket, key: str) -> None:
        self._store, self._key = store, key
        self._window = store.opts["read_ahead"]
        self._lock = threading.Lock()
        self._start, self._data = 0, b""
        self._etag: str | None = None
        self._ahead: tuple[int, Future[tuple[int, bytes, int, str | None]]] | None = None
        self.size = 0
        try:
            self._start, self._data, self.size, self._etag = self._get(0, self._window)
        except _EmptyObject:
            head = c.call("head", store.client.head_object, Bucket=store.bucket, Key=key)
            self.size, self._etag = int(head["ContentLength"]), head.get("ETag")

    def _get(self, offset: int, length: int) -> tuple[int, bytes, int, str | None]:
        store = self._store
        extra: dict[str, Any] = {"IfMatch": self._etag} if self._etag else {}

        def fetch() -> tuple[dict[str, Any], bytes]:
            resp = store.client.get_object(Bucket=store.bucket, Key=self._key,
                                           Range=f"bytes={offset}-{offset + length - 1}",
                                           **extra)
            return resp, resp["Body"].read()

        try:
            resp, body = c.call_retrying("get", store.opts["max_attempts"], fetch)
        except BackendError as exc:
            if "InvalidRange" in str(exc) and offset == 0:
                raise _EmptyObject from None
            if "PreconditionFailed" in str(exc):
                raise BlobNotFound("blob was replaced while it was being read") from None
            raise
        total = int(str(resp.get("ContentRange", "")).rpartition("/")[2] or len(body))
        return offset, body, total, resp.get("ETag")

    def readinto(self, offset: int, buf: memoryview) -> int:
        want = min(len(buf), max(0, self.size - offset))
        done = 0
        with self._lock:
            while done < want:
                pos = offset + done
                if not (self._start <= pos < self._start + len(self._data)):
                    self._load(pos, want - done)
                    if not self._data:
                        break
                lo = pos - self._start
                n = min(want - done, len(self._data) - lo)
                buf[done:done + n] = self._data[lo:lo + n]
                done += n
                self._maybe_prefetch(pos + n)
        return done

    def _load(self, pos: int, need: int) -> None:
        """Make the window hold ``pos``: the prefetched next window if it starts there."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == pos and need <= self._window:
            self._start, self._data, _total, _etag = ahead[1].result()
            return
        if ahead is not None:
            ahead[1].cancel()
        self._start, self._data, _total, _etag = self._get(pos, max(self._window, need))

    def _maybe_prefetch(self, pos: int) -> None:
        """Past the middle of the window, fetch the next one in the background: a
        sequential reader then overlaps S3's latency with its own work (decrypting)."""
        end = self._start + len(self._data)
        if (self._ahead is None and end < self.size
                and pos >= self._start + len(self._data) // 2):
            self._ahead = (end, self._store.pool.submit(self._get, end, self._window))

    def close(self) -> None:
        self._data = b""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead[1].cancel()


class _EmptyObject(Exception):
    """A ranged GET of a 0-byte object (S3 answers 416)."""

