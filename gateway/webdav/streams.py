"""Streaming helpers for large transfers: a PUT body read ahead of encryption, a GET
decrypted ahead of the socket, the upload object wsgidav writes into, and the length a
PUT announces."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from wsgidav.dav_error import DAVError

from gateway.filewriter import FileWriter
from gateway.session import FileReader
from gateway.webdav.errors import mapped

READ_AHEAD_MIN = 1 << 20
_END = object()


def read_ahead(chunks: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """Iterate ``chunks`` in a helper thread, ``depth`` chunks ahead of the consumer.

    Socket reads (TLS decryption) release the GIL, as do AES-GCM and SHA-256 on large
    buffers: with a reader thread both cores work on one upload. Errors of the reader are
    re-raised in the consumer; a consumer that stops early stops the reader.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    thread = threading.Thread(target=pump, name="put-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class Prefetch:
    """A whole-file GET: decryption runs in a helper thread ahead of the socket writes."""

    def __init__(self, reader: FileReader, block: int = 256 * 1024) -> None:
        self.reader, self.block = reader, block
        self._chunks: Iterator[bytes] | None = None
        self._left = b""
        self.consumed = 0

    def seek(self, position: int) -> None:
        if self._chunks is None:
            self.reader.seek(position)

    def read(self, n: int = -1) -> bytes:
        if self._chunks is None:
            self._chunks = read_ahead(self.reader.iter_chunks(self.block), depth=4)
        if not self._left:
            self._left = next(self._chunks, b"")
        data = self._left if n < 0 else self._left[:n]
        self._left = self._left[len(data):]
        self.consumed += len(data)
        return data

    def close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()  # type: ignore[attr-defined]  # stops the helper thread
        self.reader.sent = self.consumed  # audit what reached the client, not the read-ahead
        self.reader.close()


class Upload:
    """The file object wsgidav writes a PUT body into; ``close`` commits atomically."""

    def __init__(self, resource: Any, writer: FileWriter) -> None:
        self.resource, self.writer = resource, writer

    def write(self, data: bytes) -> None:
        with mapped():  # e.g. FileTooLarge / QuotaExceeded -> 507
            self.writer.write(data)

    def writelines(self, chunks: Iterator[bytes]) -> None:
        expected = self.writer.expected_length
        with mapped():  # a refusal mid-body (file too large, quota) keeps its status
            if expected is not None and expected < READ_AHEAD_MIN:
                for chunk in chunks:
                    self.writer.write(chunk)
                return
            for chunk in read_ahead(chunks):  # TLS reads overlap encryption and hashing
                self.writer.write(chunk)

    def close(self) -> None:
        with mapped():
            self.writer.close()  # IncompleteUpload -> 400, previous version kept
        self.resource.entry = self.writer.entry  # the committed version (its ETag)


def expected_length(environ: dict[str, Any]) -> int | None:
    """Content-Length, or macOS Finder's X-Expected-Entity-Length on chunked PUTs."""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    raw = environ.get("HTTP_X_EXPECTED_ENTITY_LENGTH") if chunked \
        else environ.get("CONTENT_LENGTH")
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise DAVError(400, context_info="invalid length header") from None
    if value < 0:
        raise DAVError(400, context_info="invalid length header")
    return value
