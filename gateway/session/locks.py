"""Session operations on WebDAV locks: each one checked and audited by ``SessionLocks``
(gateway/session/locking.py); the changes of the other parts check the locks inside their
own transactions."""

from __future__ import annotations

from collections.abc import Collection

from gateway.session.base import SessionBase
from gateway.session.locking import LockInfo, lock_root


class SessionPartLock(SessionBase):
    """Lock, refresh, unlock, discover; the early check; the lock owner's name."""

    def lock(self, path: str, *, owner: bytes = b"", scope: str = "exclusive",
             depth: str = "0", timeout: float | None = None) -> LockInfo:
        """Lock ``path`` (write permission; depth infinity: on everything below it too)."""
        return self._locks.lock(path, owner=owner, scope=scope, depth=depth, timeout=timeout)

    def refresh_lock(self, path: str, token: str, timeout: float | None = None) -> LockInfo:
        """Give this user's lock ``token`` (covering ``path``) a new lifetime."""
        return self._locks.refresh(path, token, timeout)

    def unlock(self, path: str, token: str) -> None:
        """Release this user's lock ``token`` (covering ``path``)."""
        self._locks.unlock(path, token)

    def discover(self, path: str) -> list[LockInfo]:
        """The locks that cover ``path``: on it, or infinite-depth above it."""
        return self._locks.discover(path)

    def locks(self) -> list[LockInfo]:
        """Every unexpired lock of the tenant (one snapshot per session)."""
        return self._locks.all()

    def check_unlocked(self, action: str, path: str, lock_tokens: Collection[str] | None,
                       *, subtree: bool = False) -> None:
        """Refuse ``action`` on ``path`` (audited) before it starts if a lock is in the
        way (``subtree``: also a lock inside the folder) and ``lock_tokens`` do not hold
        it; the operation itself checks again, atomically with its change."""
        self._locks.precheck(action, path, lock_tokens, subtree=subtree)

    @property
    def lock_owner(self) -> str:
        """The ``principal`` recorded on the locks this session takes."""
        return self._locks.owner

    def lock_root(self, path: str) -> str:
        """The key a lock on ``path`` is stored under (WebDAV's resource URL)."""
        return lock_root(path, self._ci)
