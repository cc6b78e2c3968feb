"""``gateway.errors`` -> WebDAV status codes (one table, see docs/core-api.md)."""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Iterator

from wsgidav.dav_error import DAVError, get_http_status_string

from gateway import errors as e

log = logging.getLogger("gateway.webdav")

_STATUS: tuple[tuple[type[e.GatewayError], int], ...] = (
    (e.NotFound, 404),
    (e.PermissionDenied, 403),
    (e.QuotaExceeded, 507),
    (e.AlreadyExists, 412),
    (e.NotADirectory, 409),
    (e.IsADirectory, 405),
    (e.DirectoryNotEmpty, 409),
    (e.InvalidName, 400),
    (e.InvalidMove, 403),
    (e.IncompleteUpload, 400),
    (e.Locked, 423),
    (e.Conflict, 409),
    (e.AuthenticationFailed, 401),
)


def to_dav(exc: BaseException) -> DAVError:
    """The DAVError for a core error; unexpected errors become a logged 500."""
    if isinstance(exc, DAVError):
        return exc
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return DAVError(status, context_info=str(exc))
    log.error("webdav: internal error: %s: %s", type(exc).__name__,
              exc if isinstance(exc, e.GatewayError) else "")
    return DAVError(500, context_info="internal error")


@contextlib.contextmanager
def mapped() -> Iterator[None]:
    """Run core calls, re-raising their errors as DAVError."""
    try:
        yield
    except DAVError:
        raise
    except e.GatewayError as exc:
        raise to_dav(exc) from None


def _response_page(self: DAVError) -> tuple[str, bytes]:
    """wsgidav's error page without its name, version, clock or exception text."""
    if self.err_condition:
        return "application/xml; charset=utf-8", self.err_condition.as_string().encode()
    status = html.escape(get_http_status_string(self))
    detail = ""
    if self.context_info and self.value < 500:
        detail = f"<p>{html.escape(str(self.context_info))}</p>"
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{status}</title>"
            f"</head><body><h1>{status}</h1>{detail}</body></html>\n")
    return "text/html; charset=utf-8", page.encode("utf-8")


def install() -> None:
    """Serve every wsgidav error page through ``_response_page`` (idempotent)."""
    DAVError.get_response_page = _response_page  # type: ignore[method-assign]
