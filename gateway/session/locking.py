"""WebDAV locks as a core service: the lock-binds-every-protocol rule, in one place.

A lock is taken, refreshed, released and looked up only through ``Session`` (which
delegates here), and every change of the namespace asks ``check`` inside its own write
transaction whether a lock forbids it. A session presents the tokens its client holds
(WebDAV: the ``If`` header) with each call; a lock whose token is presented BY ITS OWNER
does not stand in the way, every other one does (SFTP, SCP and the CLI present none).

Locks are stored in the catalog (``gateway.catalog.locks``) under the key WebDAV uses for
the resource's URL, so every gateway process sees the same ones. A lock is a ``LockInfo``
dict in the shape wsgidav expects (root, type, scope, depth, owner, principal, timeout,
expire, token); ``principal`` is the owner's ``user@tenant``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Connection

from gateway import authz
from gateway.catalog import locks as store
from gateway.errors import InvalidName, Locked, NotADirectory, NotFound, PermissionDenied
from gateway.names import join_path, split_path

if TYPE_CHECKING:
    from gateway.session import Session

LockInfo = dict[str, Any]
SCOPES = ("exclusive", "shared")
DEPTHS = ("0", "infinity")


def lock_root(path: str, case_insensitive: bool) -> str:
    """The key a lock on ``path`` is stored under (names folded on case-insensitive
    tenants, percent-quoted, no trailing slash); a path that is no valid name is quoted
    as it is (nothing can be stored there, so nothing matches)."""
    try:
        return store.lock_key(split_path(path), case_insensitive)
    except InvalidName:
        return quote("/" + path.strip("/"))


class SessionLocks:
    """The lock calls of one ``Session``, with its snapshot of the tenant's locks.

    Reads use one snapshot per session (WebDAV opens a session per request: one query
    per PROPFIND however many resources it reports); any lock change by this session
    drops it. Checks that guard a change never use it: they read inside the change's
    own write transaction (the early check of a write uses the locks read with its
    path, in the same request: gateway/session/lookahead.py)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._snapshot: list[LockInfo] | None = None

    @property
    def owner(self) -> str:
        """The ``principal`` of the locks this session takes."""
        return self._session.principal.display

    def all(self) -> list[LockInfo]:
        """Every unexpired lock of the tenant (the session's snapshot)."""
        if self._snapshot is None:
            with self._session.core.catalog.read() as conn:
                self._snapshot = store.all_locks(conn, self._session.tenant_id)
        return self._snapshot

    def discover(self, path: str) -> list[LockInfo]:
        """The locks on ``path`` and the infinite-depth ones above it."""
        locks = self.all()
        if not locks:
            return []
        key = lock_root(path, self._session.principal.case_insensitive)
        return [dict(lk) for lk in locks if store.covers(lk, key)]

    # --- changes (each permission-checked and audited once, by the session's _op) -------
    def lock(self, path: str, *, owner: bytes, scope: str, depth: str,
             timeout: float | None) -> LockInfo:
        """Grant a new lock on ``path`` (which need not exist yet: a lock-null resource).

        Needs write on the path, and on every node below it for depth infinity; refused
        with ``Locked`` if it conflicts with another lock. The conflict check and the
        insert are one catalog write transaction (atomic across gateway processes)."""
        if scope not in SCOPES or depth not in DEPTHS:
            raise InvalidName(f"unsupported lock scope/depth {scope}/{depth}")
        s = self._session
        with s._op("lock", path) as op:
            parts, norm = s._parts(path)
            op.event.path = norm
            op.event.reason = f"{scope} depth={depth}"
            s._require("write", norm)
            key = store.lock_key(parts, s.principal.case_insensitive)
            self._snapshot = None
            with s._write_tx() as conn:
                if depth == "infinity":
                    self._require_subtree_write(conn, parts, norm)
                other = store.conflicting_lock(conn, s.tenant_id, key, scope=scope,
                                               depth=depth)
                if other is not None:
                    raise Locked(f"{norm} conflicts with a lock on {other['root']}")
                lock = store.create(conn, s.tenant_id, new_token(), {
                    "root": key, "type": "write", "scope": scope, "depth": depth,
                    "owner": owner, "principal": self.owner, "timeout": timeout},
                    s.core.config.webdav.max_lock_timeout_s)
                op.commit_in(conn)
            return lock

    def _require_subtree_write(self, conn: Connection, parts: list[str], norm: str) -> None:
        s = self._session
        try:
            node = s._resolve(conn, parts)
        except (NotFound, NotADirectory):
            return  # a lock-null resource: nothing below it yet
        authz.require_subtree(conn, s.principal, "write", norm, node)

    def refresh(self, path: str, token: str, timeout: float | None) -> LockInfo:
        """Extend a lock of this user that covers ``path`` (a new lifetime from now)."""
        s = self._session
        with s._op("lock-refresh", path) as op:
            _parts, norm = s._parts(path)
            op.event.path = norm
            s._require("write", norm)
            self._snapshot = None
            with s._write_tx() as conn:
                self._own_lock(conn, norm, token)
                lock = store.refresh(conn, s.tenant_id, token, timeout,
                                     s.core.config.webdav.max_lock_timeout_s)
                assert lock is not None  # still inside the transaction that found it
                op.commit_in(conn)
            return lock

    def unlock(self, path: str, token: str) -> None:
        """Release a lock that covers ``path``. Only the user who took it may (any
        permission on the path lost since does not matter); an administrator drops
        anyone's with ``lumanox-gateway locks``."""
        s = self._session
        with s._op("unlock", path) as op:
            _parts, norm = s._parts(path)
            op.event.path = norm
            self._snapshot = None
            with s._write_tx() as conn:
                self._own_lock(conn, norm, token)
                store.delete_token(conn, s.tenant_id, token)
                op.commit_in(conn)

    def _own_lock(self, conn: Connection, norm: str, token: str) -> LockInfo:
        """The lock ``token`` if it covers ``norm`` and belongs to this user."""
        lock = store.get(conn, self._session.tenant_id, token)
        key = lock_root(norm, self._session.principal.case_insensitive)
        if lock is None or not store.covers(lock, key, any_depth=True):
            raise NotFound(f"no lock {token} on {norm}")
        if lock["principal"] != self.owner:
            raise PermissionDenied(f"the lock on {norm} belongs to {lock['principal']}")
        return lock

    # --- checks ----------------------------------------------------------------------------
    def precheck(self, action: str, path: str, tokens: Collection[str] | None, *,
                 subtree: bool = False) -> None:
        """Before ``action`` on ``path`` starts (e.g. before a request body is read): refuse
        it, audited, if a lock is in the way now; the operation checks again inside its
        own transaction. Reads the locks afresh (the snapshot of a long-lived session may
        be old), leaving them as the new snapshot."""
        s = self._session
        self._snapshot = None
        with s._op(action, path) as op:
            op.recorded = True  # nothing happened yet: only a refusal is audited here
            parts, norm = s._parts(path)
            op.event.path = norm
            self._refuse(store.find_blocking(self.all(), parts, s.principal.case_insensitive,
                                             subtree=subtree, held=self._held(tokens)), parts)

    def check(self, conn: Connection, parts: list[str], tokens: Collection[str] | None, *,
              membership: bool = False, subtree: bool = False) -> None:
        """Inside a change's write transaction: refuse it if a lock forbids it (see
        ``catalog.locks.find_blocking``) unless the session presented that lock's token
        and owns it."""
        self.check_in(store.all_locks(conn, self._session.tenant_id), parts, tokens,
                      membership=membership, subtree=subtree)

    def check_in(self, locks: list[LockInfo], parts: list[str],
                 tokens: Collection[str] | None, *, membership: bool = False,
                 subtree: bool = False) -> None:
        """``check`` against the tenant's locks read earlier in this request (``read``):
        the early check of a write, before its body arrives."""
        self._refuse(store.find_blocking(locks, parts, self._session.principal.case_insensitive,
                                         membership=membership, subtree=subtree,
                                         held=self._held(tokens)), parts)

    def read(self, conn: Connection) -> list[LockInfo]:
        """The tenant's unexpired locks read in ``conn``, kept as the session's snapshot
        (one read per transaction: the request's later lock reads use it)."""
        self._snapshot = store.all_locks(conn, self._session.tenant_id)
        return self._snapshot

    def _held(self, tokens: Collection[str] | None) -> Callable[[LockInfo], bool] | None:
        """Whether a lock is held by this session: its token presented, by its owner."""
        if not tokens:
            return None
        owner = self.owner
        return lambda lk: lk["token"] in tokens and lk["principal"] == owner

    @staticmethod
    def _refuse(lock: LockInfo | None, parts: list[str]) -> None:
        if lock is not None:
            raise Locked(f"{join_path(parts)} is locked (WebDAV lock by "
                         f"{lock['principal'] or 'another client'}); try again later")

    def drop(self, conn: Connection, parts: list[str]) -> None:
        """Forget the locks of a resource (and its members) that a change removed."""
        self._snapshot = None
        store.delete_under(conn, self._session.tenant_id,
                           store.lock_key(parts, self._session.principal.case_insensitive))


def new_token() -> str:
    """A fresh lock token (RFC 4918 opaquelocktoken URI, 256 random bits)."""
    return f"opaquelocktoken:{secrets.token_hex(32)}"

