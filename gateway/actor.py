"""Who an administrative action is done by, for its audit event.

The CLI acts as ``admin`` over protocol ``admin`` (the default). The admin HTTP API sets
the caller for the duration of one request (``acting_as("token:NAME", "api")``), so the
service functions it shares with the CLI (``gateway.admin``, ``gateway.locks_admin``,
``gateway.policy.manage``) audit the token's principal, not ``admin``. The value lives in
a context variable: each request thread of the API sees only its own caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user: str
    protocol: str
    remote_addr: str | None = None


ADMIN = Actor("admin", "admin")
#: protocols whose events are administrators' actions (audit erasure looks for these)
ADMIN_PROTOCOLS = ("admin", "api")
_current: ContextVar[Actor] = ContextVar("lumanox_actor", default=ADMIN)


def current() -> Actor:
    """The caller of the administrative action being done now (``admin`` by default)."""
    return _current.get()


@contextmanager
def acting_as(user: str, protocol: str, remote_addr: str | None = None) -> Iterator[Actor]:
    """Audit administrative actions inside the block as ``user`` over ``protocol``."""
    actor = Actor(user, protocol, remote_addr)
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
