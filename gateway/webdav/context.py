"""Per-request state shared by the adapter's parts (cheroot runs one request per thread)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection

SESSION_KEY = "lumanox.session"

_local = threading.local()


def begin_request(environ: dict[str, Any] | None = None) -> None:
    """Forget everything about the previous request handled by this thread."""
    _local.environ = environ
    _local.tenant_id = None
    _local.locks = None
    _local.conn = None


def set_tenant(tenant_id: str) -> None:
    _local.tenant_id = tenant_id


def tenant_id() -> str:
    tid = getattr(_local, "tenant_id", None)
    if not tid:
        raise RuntimeError("no authenticated tenant for this request")
    return tid


def lock_snapshot() -> list[dict[str, Any]] | None:
    return getattr(_local, "locks", None)


def set_lock_snapshot(locks: list[dict[str, Any]] | None) -> None:
    _local.locks = locks


def bound_connection() -> Connection | None:
    """The write transaction a lock check-and-create runs in, if any."""
    return getattr(_local, "conn", None)


def bind_connection(conn: Connection | None) -> None:
    _local.conn = conn


def environ() -> dict[str, Any]:
    """The WSGI environ of the request this thread is serving."""
    env = getattr(_local, "environ", None)
    if env is None:
        raise RuntimeError("no request")
    return env
