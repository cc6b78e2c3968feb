"""Request checks that run before authentication and before wsgidav parses anything:
a URL that is not UTF-8 (400) and an XML body over ``webdav.max_xml_body_bytes`` (413).

Every method but PUT carries at most an XML document, parsed in memory by wsgidav: its
size is checked from ``Content-Length`` before a byte is read, and a chunked body is read
into memory only up to the limit.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

STREAMED_METHODS = frozenset({"PUT"})


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def url_problem(environ: dict[str, Any]) -> str | None:
    """Why the request's path (or Destination) cannot be a file name, or None."""
    path = environ.get("PATH_INFO", "")
    if not _utf8(path.encode("latin-1", "replace")):
        return "the request URL is not valid UTF-8"
    dest = environ.get("HTTP_DESTINATION")
    if dest:
        try:
            raw = unquote_to_bytes(urlsplit(dest).path)
        except ValueError:
            return "the Destination header is not a URL"
        if not _utf8(raw):
            return "the Destination URL is not valid UTF-8"
    return None


def body_problem(environ: dict[str, Any], max_bytes: int) -> str | None:
    """Why the request body is refused (too large), or None; a chunked XML body within
    the limit is buffered and given a Content-Length."""
    if environ["REQUEST_METHOD"] in STREAMED_METHODS:
        return None
    length = environ.get("CONTENT_LENGTH", "").strip()
    if length:
        try:
            size = int(length)
        except ValueError:
            return None  # cheroot has answered 400 to a malformed length already
        return "request body too large" if size > max_bytes else None
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    data = environ["wsgi.input"].read(max_bytes + 1)
    if len(data) > max_bytes:
        return "request body too large"
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return None


def plain(start_response: Any, status: str, text: str, *, close: bool = False
          ) -> Iterable[bytes]:
    body = (text + "\n").encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8"),
               ("Content-Length", str(len(body)))]
    if close:
        headers.append(("Connection", "close"))
    start_response(status, headers)
    return [body]
