"""wsgidav's ``LockManager`` as a thin adapter over the ``Session`` lock calls.

The core grants, refreshes and releases locks (permission-checked and audited there,
conflict check and insert in one catalog transaction), and every change the request makes
presents the client's lock tokens to the core, which refuses a locked resource inside the
change's own transaction. wsgidav's own write checks are therefore no-ops here, and reads
(lock discovery, ``If`` headers) use the session's snapshot of the tenant's locks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from wsgidav.dav_error import DAVError
from wsgidav.lock_man.lock_manager import LockManager, normalize_lock_root

from gateway.errors import InvalidName
from gateway.names import normalize_path
from gateway.session import Session
from gateway.webdav import context
from gateway.webdav.errors import mapped
from gateway.webdav.resources import LOCK_NULL_KEY


def _is_child(parent: str, url: str) -> bool:
    return url.startswith(parent.rstrip("/") + "/")


def _session() -> Session:
    session: Session | None = context.environ().get(context.SESSION_KEY)
    if session is None:
        raise DAVError(401)
    return session


class SessionLockStorage:
    """The read side of wsgidav's lock storage interface, over the session's snapshot."""

    def __repr__(self) -> str:
        return "SessionLockStorage"

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def get(self, token: str) -> dict[str, Any] | None:
        for lock in _session().locks():
            if lock["token"] == token:
                return dict(lock)
        return None

    def get_lock_list(self, path: str, *, include_root: bool, include_children: bool,
                      token_only: bool) -> list[Any]:
        path = normalize_lock_root(path)
        out = []
        for lock in _session().locks():
            root = lock["root"]
            if (include_root and root == path) or (include_children and _is_child(path, root)):
                out.append(lock["token"] if token_only else dict(lock))
        return out


class SessionLockManager(LockManager):
    """Every decision is the core's: this class only translates."""

    def __init__(self) -> None:
        super().__init__(SessionLockStorage())

    def acquire(self, *, url: str, lock_type: str, lock_scope: str, lock_depth: str,
                lock_owner: bytes, timeout: float | None, principal: str,
                token_list: list[str]) -> dict[str, Any]:
        env = context.environ()
        session, path = _session(), _request_path(env)
        with mapped():
            lock = session.lock(path, owner=lock_owner, scope=lock_scope, depth=lock_depth,
                                timeout=timeout)
        lock_null = env.pop(LOCK_NULL_KEY, None)
        if lock_null is not None:  # LOCK on an unmapped URL: now create the empty file
            try:
                with mapped():
                    session.write_file(lock_null, b"", lock_tokens=[lock["token"]])
            except BaseException:
                with mapped():
                    session.unlock(path, lock["token"])
                raise
        return lock

    def refresh(self, token: str, *, timeout: float | None = None) -> dict[str, Any]:
        with mapped():
            return _session().refresh_lock(_request_path(context.environ()), token, timeout)

    def release(self, token: str) -> None:
        """UNLOCK: the core refuses (403, audited) a lock of another user."""
        with mapped():
            _session().unlock(_request_path(context.environ()), token)

    def is_token_locked_by_user(self, token: str, principal: str) -> bool:
        return True  # whose lock it is, is decided by the core in ``release``

    def get_indirect_url_lock_list(self, url: str, *, principal: str | None = None
                                   ) -> list[dict[str, Any]]:
        """For ``If`` headers: the locks held by this session's user (as the core names
        it, not as the client spelled its login)."""
        owner = None if principal is None else _session().lock_owner
        return super().get_indirect_url_lock_list(url, principal=owner)

    def check_write_permission(self, *, url: str, depth: str, token_list: list[str],
                               principal: str) -> None:
        """wsgidav's early check before a change. Every core call that changes something
        checks the locks itself with the request's tokens (PUT when it opens, before the
        body, and again in its commit), so only PROPPATCH, which wsgidav answers 423 only
        from here (later refusals land in its multistatus), asks the core now."""
        env = context.environ()
        if env["REQUEST_METHOD"] != "PROPPATCH":
            return None
        session, path = _session(), _request_path(env)
        if normalize_lock_root(url) == session.lock_root(path):
            with mapped():
                session.check_unlocked("proppatch", path, token_list,
                                       subtree=depth == "infinity")
        return None

    @contextlib.contextmanager
    def write_transaction(self, *, url: str, token_list: list[str], principal: str,
                          depth: str = "0") -> Iterator[None]:
        yield  # the core checks again inside the commit transaction

    def remove_all_locks_from_url(self, url: str, *, recursive: bool = False) -> None:
        return None  # the core drops the locks of what DELETE/MOVE removed, in its change


def _request_path(env: dict[str, Any]) -> str:
    try:
        return normalize_path(env.get("PATH_INFO", "/"))
    except InvalidName:
        raise DAVError(400) from None
