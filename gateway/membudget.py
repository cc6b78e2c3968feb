"""A byte budget shared by several buffers (e.g. every write handle of one SSH connection).

Front-ends give one ``MemoryBudget`` to all the buffers a single client controls, so that
the client cannot multiply a per-buffer limit by opening more handles. Buffers that can
spill elsewhere (the reorder buffer of ``FileWriter``: to the encrypted spool) ask with
``try_take`` and spill when refused; buffers that cannot (a write-behind queue) ``take``
and then wait until ``over`` is false again. Thread-safe: core calls run in a pool.
"""

from __future__ import annotations

import threading


class MemoryBudget:
    """``limit`` bytes; ``used`` counts what the holders said they keep in memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._metadata: MemoryBudget | None = None

    @property
    def metadata(self) -> MemoryBudget:
        """A separate budget of the same size for bookkeeping that can neither wait nor
        spill (the spool's extent map): running out there fails the write, so transient
        buffers filling this budget must not cause it."""
        with self._lock:
            if self._metadata is None:
                self._metadata = MemoryBudget(self.limit)
            return self._metadata

    def try_take(self, n: int) -> bool:
        """Reserve ``n`` bytes if they fit; False (nothing reserved) if not."""
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            self.peak = max(self.peak, self.used)
            return True

    def take(self, n: int) -> None:
        """Reserve ``n`` bytes even past the limit (the caller then waits for ``over``)."""
        with self._lock:
            self.used += n
            self.peak = max(self.peak, self.used)

    def release(self, n: int) -> None:
        if n:
            with self._lock:
                self.used = max(0, self.used - n)

    @property
    def over(self) -> bool:
        return self.used > self.limit
