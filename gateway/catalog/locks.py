"""WebDAV locks in the catalog (``dav_locks``), shared by every gateway process.

Functions take an open connection so the caller decides the transaction. A lock is a plain
dict in the shape wsgidav's lock manager uses (root, type, scope, depth, owner, principal,
timeout, expire, token); ``expire`` is seconds since the epoch. Expired locks are ignored
by every read and purged by writes. ``namespace.lock_tenant`` must be the first statement of
a write transaction that checks for conflicts and then creates a lock, as it is of every
namespace change, so a lock and a commit of the same tenant never interleave.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, delete, or_, select, update

from gateway.catalog.db import RawSQL, db_time, run_raw
from gateway.catalog.tables import dav_locks
from gateway.names import name_key

#: default longest lock lifetime granted, also for "Infinite" requests (1 hour); the
#: configured ``webdav.max_lock_timeout_s`` is passed in by the callers. A client that
#: needs a lock for longer refreshes it.
MAX_TIMEOUT_S = 3600

Lock = dict[str, Any]


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _epoch(value: datetime | str) -> float:
    """A stored time as seconds since the epoch (SQLite rows read raw hold it as text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


#: the columns ``_lock`` reads, in its order
_COLUMNS = ("token", "root", "depth", "scope", "type", "owner", "principal", "timeout_s",
            "expires_at")


def _lock(row: Any) -> Lock:
    """A lock from a row of ``_COLUMNS`` (positional: SQLAlchemy or driver rows)."""
    token, root, depth, scope, type_, owner, principal, timeout_s, expires_at = row
    return {"token": token, "root": root, "depth": depth, "scope": scope, "type": type_,
            "owner": owner.encode("utf-8") if owner is not None else b"",
            "principal": principal or "", "timeout": float(timeout_s),
            "expire": _epoch(expires_at)}


def clamp_timeout(timeout: float | None, max_timeout: int = MAX_TIMEOUT_S) -> int:
    """The lifetime granted for a requested one (None or negative: "Infinite")."""
    if timeout is None or timeout < 0 or timeout > max_timeout:
        return max_timeout
    return max(1, int(timeout))


# read twice by every upload (its early check and its commit): on the driver's cursor
_ALL_LOCKS = RawSQL(f"SELECT {', '.join(_COLUMNS)} FROM dav_locks "  # noqa: S608 - constants
                    "WHERE tenant_id = :t AND expires_at > :now")


def all_locks(conn: Connection, tenant_id: str) -> list[Lock]:
    """Every unexpired lock of a tenant."""
    now = db_time(conn, _ts(time.time()))
    return [_lock(r) for r in run_raw(conn, _ALL_LOCKS, {"t": tenant_id, "now": now})]


def get(conn: Connection, tenant_id: str, token: str) -> Lock | None:
    row = conn.execute(select(*(dav_locks.c[c] for c in _COLUMNS)).where(
        dav_locks.c.tenant_id == tenant_id, dav_locks.c.token == token)).first()
    if row is None:
        return None
    lock = _lock(row)
    return lock if lock["expire"] >= time.time() else None


def create(conn: Connection, tenant_id: str, token: str, lock: Lock,
           max_timeout: int = MAX_TIMEOUT_S) -> Lock:
    """Insert a lock; fills in ``token``, ``timeout`` and ``expire``."""
    timeout = clamp_timeout(lock.get("timeout"), max_timeout)
    expire = time.time() + timeout
    owner = lock.get("owner") or b""
    conn.execute(dav_locks.insert().values(
        token=token, tenant_id=tenant_id, root=lock["root"], depth=lock["depth"],
        scope=lock["scope"], type=lock.get("type", "write"),
        owner=owner.decode("utf-8") if isinstance(owner, bytes) else str(owner),
        principal=lock.get("principal"), timeout_s=timeout, expires_at=_ts(expire)))
    lock.update(token=token, timeout=float(timeout), expire=expire)
    return lock


def refresh(conn: Connection, tenant_id: str, token: str, timeout: float | None,
            max_timeout: int = MAX_TIMEOUT_S) -> Lock | None:
    seconds = clamp_timeout(timeout, max_timeout)
    conn.execute(update(dav_locks).where(
        dav_locks.c.tenant_id == tenant_id, dav_locks.c.token == token).values(
        timeout_s=seconds, expires_at=_ts(time.time() + seconds)))
    return get(conn, tenant_id, token)


def delete_token(conn: Connection, tenant_id: str, token: str) -> None:
    conn.execute(delete(dav_locks).where(
        dav_locks.c.tenant_id == tenant_id, dav_locks.c.token == token))


def purge_expired(conn: Connection, tenant_id: str | None = None) -> int:
    stmt = delete(dav_locks).where(dav_locks.c.expires_at <= _ts(time.time()))
    if tenant_id is not None:
        stmt = stmt.where(dav_locks.c.tenant_id == tenant_id)
    return conn.execute(stmt).rowcount or 0


def clear(conn: Connection, tenant_id: str) -> None:
    conn.execute(delete(dav_locks).where(dav_locks.c.tenant_id == tenant_id))


def lock_key(parts: list[str], case_insensitive: bool) -> str:
    """The key a lock on ``/parts`` is stored under: the WebDAV front-end's resource URL
    (names folded on case-insensitive tenants, percent-quoted, no trailing slash)."""
    return quote("/" + "/".join(name_key(p, case_insensitive) for p in parts))


def covers(lock: Lock, key: str, *, any_depth: bool = False) -> bool:
    """Whether ``lock`` is on ``key`` itself or is an infinite-depth lock above it
    (``any_depth``: a lock of any depth above it, i.e. ``key`` is within its root)."""
    root = lock["root"]
    return root == key or ((any_depth or lock["depth"] == "infinity") and
                           (root == "/" or key.startswith(root + "/")))


def _below(root: str, key: str) -> bool:
    """Whether a lock rooted at ``root`` is strictly inside the folder ``key``."""
    return root != key and (key == "/" or root.startswith(key + "/"))


def find_blocking(locks: list[Lock], parts: list[str], case_insensitive: bool, *,
                  membership: bool = False, subtree: bool = False,
                  held: Callable[[Lock], bool] | None = None) -> Lock | None:
    """The first of ``locks`` that forbids changing ``/parts`` without its token.

    A lock on the path itself, or an infinite-depth lock on a folder above it, always does;
    ``membership`` (creating, removing or renaming the entry) adds a lock of any depth on
    its parent folder; ``subtree`` (deleting or moving a folder) adds locks inside it.
    A lock for which ``held(lock)`` is true (its token presented by its owner) never does."""
    if not locks:
        return None
    key = lock_key(parts, case_insensitive)
    parent = lock_key(parts[:-1], case_insensitive) if parts else None
    for lock in locks:
        if held is not None and held(lock):
            continue
        if covers(lock, key) or (membership and lock["root"] == parent) or \
                (subtree and _below(lock["root"], key)):
            return lock
    return None


def conflicting_lock(conn: Connection, tenant_id: str, key: str, *, scope: str,
                     depth: str) -> Lock | None:
    """The first unexpired lock a new ``scope``/``depth`` lock on ``key`` conflicts with
    (RFC 4918 6.1): one on the key or an infinite one above it, unless both are shared;
    for an infinite-depth request, any lock inside it."""
    for lock in all_locks(conn, tenant_id):
        if covers(lock, key) and not (scope == "shared" and lock["scope"] == "shared"):
            return lock
        if depth == "infinity" and _below(lock["root"], key):
            return lock
    return None


def delete_under(conn: Connection, tenant_id: str, key: str) -> int:
    """Drop the locks on ``key`` and inside it (the resource is gone or replaced)."""
    stmt = delete(dav_locks).where(dav_locks.c.tenant_id == tenant_id)
    if key != "/":
        stmt = stmt.where(or_(dav_locks.c.root == key,
                              dav_locks.c.root.startswith(key + "/", autoescape=True)))
    return conn.execute(stmt).rowcount or 0
