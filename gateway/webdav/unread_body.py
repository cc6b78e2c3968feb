"""Refusing an upload before its body: answer at once instead of reading the body first.

When a PUT is refused before its body was read (quota, ``storage.max_file_bytes``,
permission, lock), cheroot would read, and throw away, the whole announced body before
sending the answer: a client announcing 512 MiB over a slow link would wait for all of
it, and the server would spend the transfer for nothing. Here the unread rest of the body
is given up and the answer says ``Connection: close``, so the status goes out at once and
the connection ends after it (the unread bytes must not be taken for the next request).
A small unread rest (up to ``DRAIN_MAX``) is still drained, keeping the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StartResponse = Callable[..., Any]
DRAIN_MAX = 1024 * 1024


def refuse_without_reading(environ: dict[str, Any], start_response: StartResponse
                           ) -> StartResponse:
    """Wrap ``start_response`` for one request (only uploads with a body are affected)."""
    if environ.get("REQUEST_METHOD") not in ("PUT", "POST"):
        return start_response

    def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        body = environ.get("wsgi.input")
        unread = getattr(body, "remaining", 0) or 0
        if int(status[:3]) >= 400 and unread > DRAIN_MAX and body is not None:
            body.remaining = 0  # cheroot would otherwise drain it before answering
            headers = [h for h in headers if h[0].lower() != "connection"]
            headers.append(("Connection", "close"))
        return start_response(status, headers, exc_info) if exc_info is not None \
            else start_response(status, headers)

    return wrapped
