"""The SQLite writer's turn across processes: a lock file beside the database.

SQLite lets one process write at a time; one that finds the database locked sleeps in
SQLite's busy handler (1, 2, 5, 10, 15, 20, 25 ... ms between tries) and often wakes long
after the writer has finished. Each process's group committer (``groupcommit``) takes this
lock before ``BEGIN IMMEDIATE`` and drops it after ``COMMIT``, trying again every 0.2 to
1 ms while another process holds it, so the next writer starts within a millisecond.
After ``timeout_s`` it stops waiting and leaves the decision to SQLite's busy handler
(a process that hangs holding the lock cannot hang the others).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path


class WriterLock:
    """An exclusive ``flock`` on ``<database>-writer.lock``, polled with a timeout."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._fd = -1
        self._pid = 0

    def _file(self) -> int:
        if self._pid != os.getpid():  # a forked child must not share the parent's lock
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> bool:
        """True once held; False if ``timeout_s`` passed (or the file cannot be used)."""
        try:
            fd = self._file()
        except OSError:
            return False
        deadline = time.monotonic() + self.timeout_s
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 1.5, 0.001)
            except OSError:
                return False

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
