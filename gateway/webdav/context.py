"""Per-request state shared by the adapter's parts (cheroot runs one request per thread):
the WSGI environ, which carries the request's ``Session`` under ``SESSION_KEY``. No catalog
state: the lock snapshot of a request lives in its ``Session`` (gateway/session/locking.py)."""

from __future__ import annotations

import threading
from typing import Any

SESSION_KEY = "lumanox.session"
#: the principal whose session this request counts as open (``Access.session_began``)
COUNTED_KEY = "lumanox.counted"

_local = threading.local()


def begin_request(environ: dict[str, Any] | None = None) -> None:
    """Forget everything about the previous request handled by this thread."""
    _local.environ = environ


def environ() -> dict[str, Any]:
    """The WSGI environ of the request this thread is serving."""
    env = getattr(_local, "environ", None)
    if env is None:
        raise RuntimeError("no request")
    return env
