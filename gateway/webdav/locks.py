"""wsgidav lock storage over the catalog, and a lock manager whose check-and-create is one
catalog write transaction (atomic across every gateway process sharing the catalog).

Reads within one request use a snapshot of the tenant's unexpired locks (one query per
request, however many resources a PROPFIND reports); any change drops the snapshot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from wsgidav.dav_error import DAVError
from wsgidav.lock_man.lock_manager import LockManager, generate_lock_token, normalize_lock_root

from gateway.catalog import locks as store
from gateway.catalog import namespace as ns
from gateway.core import Core
from gateway.errors import InvalidName
from gateway.names import normalize_path
from gateway.session import Session
from gateway.webdav import context
from gateway.webdav.errors import mapped
from gateway.webdav.resources import LOCK_NULL_KEY


def _is_child(parent: str, url: str) -> bool:
    return url.startswith(parent.rstrip("/") + "/")


class CatalogLockStorage:
    """The interface wsgidav's ``LockManager`` expects, tenant-scoped by the request."""

    def __init__(self, core: Core) -> None:
        self.core = core
        #: lifetime cap of every lock granted or refreshed (``webdav.max_lock_timeout_s``)
        self._max_timeout = core.config.webdav.max_lock_timeout_s

    def __repr__(self) -> str:
        return "CatalogLockStorage"

    # --- plumbing -------------------------------------------------------------------------
    def _read_all(self) -> list[dict[str, Any]]:
        tid = context.tenant_id()
        conn = context.bound_connection()
        if conn is not None:  # inside the check-and-create transaction: fresh, no cache
            return store.all_locks(conn, tid)
        snap = context.lock_snapshot()
        if snap is None:
            with self.core.catalog.read() as c:
                snap = store.all_locks(c, tid)
            context.set_lock_snapshot(snap)
        return snap

    def _write(self, fn: Any, *args: Any) -> Any:
        tid = context.tenant_id()
        context.set_lock_snapshot(None)
        conn = context.bound_connection()
        if conn is not None:
            return fn(conn, tid, *args)
        with self.core.catalog.write() as c:
            return fn(c, tid, *args)

    # --- wsgidav's lock storage interface -----------------------------------------------
    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def cleanup(self) -> None:
        with self.core.catalog.write() as c:
            store.purge_expired(c)

    def clear(self) -> None:
        self._write(store.clear)

    def get(self, token: str) -> dict[str, Any] | None:
        for lock in self._read_all():
            if lock["token"] == token:
                return dict(lock)
        return None

    def create(self, path: str, lock: dict[str, Any]) -> dict[str, Any]:
        lock["root"] = normalize_lock_root(path)
        return self._write(store.create, generate_lock_token(), lock, self._max_timeout)

    def refresh(self, token: str, *, timeout: float | None) -> dict[str, Any]:
        lock = self._write(store.refresh, token, timeout, self._max_timeout)
        if lock is None:
            raise ValueError("lock expired or unknown")
        return lock

    def delete(self, token: str) -> None:
        self._write(store.delete_token, token)

    def get_lock_list(self, path: str, *, include_root: bool, include_children: bool,
                      token_only: bool) -> list[Any]:
        path = normalize_lock_root(path)
        out = []
        for lock in self._read_all():
            root = lock["root"]
            if (include_root and root == path) or (include_children and _is_child(path, root)):
                out.append(lock["token"] if token_only else dict(lock))
        return out


class CatalogLockManager(LockManager):
    """``acquire`` checks for conflicts and creates the lock in ONE write transaction."""

    def __init__(self, core: Core) -> None:
        super().__init__(CatalogLockStorage(core))
        self.core = core

    def acquire(self, *, url: str, lock_type: str, lock_scope: str, lock_depth: str,
                lock_owner: bytes, timeout: float | None, principal: str,
                token_list: list[str]) -> dict[str, Any]:
        env = context.environ()
        session: Session = env[context.SESSION_KEY]
        path = _request_path(env)
        with mapped():  # write on the path, and on its whole subtree for depth infinity
            session.check_lock(path, subtree=lock_depth == "infinity")
        url = normalize_lock_root(url)
        tid = context.tenant_id()
        try:
            with self.core.catalog.write() as conn:
                ns.lock_tenant(conn, tid)
                self._bind(conn)
                try:
                    self._check_lock_permission(url, lock_type, lock_scope, lock_depth,
                                                token_list, principal)
                    lock = self._generate_lock(principal, lock_type, lock_scope, lock_depth,
                                               lock_owner, url, timeout)
                finally:
                    self._bind(None)
        except DAVError as exc:
            session.record("lock", path=path, result="denied",
                           reason="locked" if exc.value == 423 else str(exc.value))
            raise
        lock_null = env.pop(LOCK_NULL_KEY, None)
        if lock_null is not None:  # LOCK on an unmapped URL: now create the empty file
            try:
                with mapped():
                    session.write_file(lock_null, b"")
            except BaseException:
                self.storage.delete(lock["token"])
                raise
        else:
            session.record("lock", path=path, reason=f"{lock_scope} depth={lock_depth}")
        return lock

    @staticmethod
    def _bind(conn: Connection | None) -> None:
        context.set_lock_snapshot(None)
        context.bind_connection(conn)

    def refresh(self, token: str, *, timeout: float | None = None) -> dict[str, Any]:
        lock = self.storage.refresh(token, timeout=timeout)
        self._record("lock-refresh")
        return lock

    def release(self, token: str) -> None:
        """UNLOCK (audited)."""
        self.storage.delete(token)
        self._record("unlock")

    def remove_all_locks_from_url(self, url: str, *, recursive: bool = False) -> None:
        """After DELETE/MOVE: drop the locks of vanished resources (part of that request)."""
        for lock in self.get_url_lock_list(url, recursive=recursive):
            self.storage.delete(lock["token"])

    @staticmethod
    def _record(action: str) -> None:
        env = context.environ()
        session: Session | None = env.get(context.SESSION_KEY)
        if session is not None:
            session.record(action, path=_request_path(env))


def _request_path(env: dict[str, Any]) -> str:
    try:
        return normalize_path(env.get("PATH_INFO", "/"))
    except InvalidName:
        raise DAVError(400) from None
