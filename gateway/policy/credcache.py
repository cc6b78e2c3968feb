"""A short, bounded, positive cache of verified credentials.

WebDAV clients send HTTP Basic credentials on every request and an argon2id check costs
tens of milliseconds. A successful check is remembered for ``ttl`` seconds under an HMAC
(with a random per-process key) of tenant, user and secret: no password is ever stored, and
the key never leaves the process. Failures are never cached. A user disabled, deleted or
whose password changed keeps access at most ``ttl`` seconds in a process that has cached
the credential (``forget_user`` drops entries at once when the change happens in-process).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class CredentialCache(Generic[T]):
    """LRU + TTL map from a keyed hash of (tenant, user, secret) to a verified result."""

    def __init__(self, ttl_s: float, max_entries: int = 10000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max(1, max_entries)
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[float, str, T]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def _digest(self, tenant: str, user: str, secret: str, kind: str) -> bytes:
        msg = b"\0".join(x.encode("utf-8", "surrogatepass") for x in (kind, tenant, user, secret))
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def get(self, tenant: str, user: str, secret: str, kind: str = "basic") -> T | None:
        """The cached result for these credentials, or None."""
        if not self.enabled:
            return None
        digest = self._digest(tenant, user, secret, kind)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
            if hit is None:
                return None
            if hit[0] <= now:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return hit[2]

    def put(self, tenant: str, user: str, secret: str, value: T, kind: str = "basic",
            ttl_s: float | None = None) -> None:
        """Remember a SUCCESSFUL check (callers never put a failure); ``ttl_s`` may only
        shorten the cache's TTL for this entry (0: do not cache)."""
        ttl = self.ttl_s if ttl_s is None else min(self.ttl_s, ttl_s)
        if ttl <= 0:
            return
        digest = self._digest(tenant, user, secret, kind)
        with self._lock:
            self._entries[digest] = (time.monotonic() + ttl, f"{user}@{tenant}", value)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_user(self, tenant: str, user: str) -> None:
        """Drop every entry of one user (after a change made in this process)."""
        login = f"{user}@{tenant}"
        with self._lock:
            for k in [k for k, v in self._entries.items() if v[1] == login]:
                del self._entries[k]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
