"""A bounded, time-limited, thread-safe cache of unwrapped keys (per process, in memory)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class KeyCache:
    """At most ``entries`` keys, each for at most ``ttl_s`` seconds after it was stored;
    the least recently used goes first when full."""

    def __init__(self, entries: int, ttl_s: float) -> None:
        self.entries, self.ttl_s = entries, ttl_s
        self._items: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, slot: Hashable) -> bytes | None:
        with self._lock:
            hit = self._items.get(slot)
            if hit is None:
                return None
            if time.monotonic() - hit[0] >= self.ttl_s:
                del self._items[slot]
                return None
            self._items.move_to_end(slot)
            return hit[1]

    def put(self, slot: Hashable, key: bytes) -> None:
        with self._lock:
            self._items[slot] = (time.monotonic(), key)
            self._items.move_to_end(slot)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def drop(self, which: Callable[[Hashable], bool]) -> None:
        """Forget every slot ``which`` picks (e.g. one tenant's keys)."""
        with self._lock:
            for slot in [s for s in self._items if which(s)]:
                del self._items[slot]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
