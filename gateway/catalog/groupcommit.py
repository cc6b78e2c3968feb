"""Group commit of one process's SQLite write transactions.

SQLite has one writer at a time, and a durable commit (WAL, ``synchronous=FULL``) costs
one fsync, about a millisecond: writers that arrive while another one works would each
pay their own. Here the write transactions of one process queue on a mutex (no polling
in SQLite's busy handler within a process) and share one SQLite transaction: each runs
in its own SAVEPOINT (its failure rolls back only its own work), and when it ends while
another writer is already queued, it hands the open transaction on instead of
committing; the last member of the group commits for all (one fsync), and every member
returns only once that commit is durable. A group is at most ``max_members`` long.

Across processes, the group's first writer waits for its turn on a lock file
(``writerlock``) before ``BEGIN IMMEDIATE`` rather than in SQLite's busy handler.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, RootTransaction

from gateway.catalog.writerlock import WriterLock


class _Group:
    """One shared SQLite transaction and the members waiting for its commit."""

    def __init__(self, conn: Connection, tx: RootTransaction, locked: bool) -> None:
        self.conn, self.tx, self.locked = conn, tx, locked
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommitter:
    """Runs write blocks of this process in shared, group-committed transactions (one
    committer per ``Catalog``: two catalogs on one file meet in the busy handler)."""

    def __init__(self, connect: Callable[[], Connection], max_members: int = 16,
                 trace: Callable[[str], Any] | None = None,
                 lock: WriterLock | None = None) -> None:
        self._connect = connect  # a Connection whose begin() is BEGIN IMMEDIATE
        self._lock = lock  # the writer's turn across processes
        self._max = max_members
        self._trace = trace
        self._reset()
        _ALL.add(self)

    def _reset(self) -> None:
        """Fresh state (also in a forked child: the parent's threads are gone there)."""
        self._mutex = threading.Lock()
        self._queued = 0  # threads waiting for the mutex
        self._count = threading.Lock()
        self._group: _Group | None = None
        self._inside = threading.local()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write block; returns once its work is committed (or raises)."""
        if getattr(self._inside, "member", False):  # it would wait for its own commit
            raise RuntimeError("a write transaction inside another one (same thread)")
        with self._count:
            self._queued += 1
        self._mutex.acquire()
        with self._count:
            self._queued -= 1
        try:
            group = self._group or self._open()
        except BaseException:
            self._mutex.release()
            raise
        group.members += 1
        callbacks: list[Callable[[], Any]] = []
        conn = group.conn
        conn.info["after_commit"] = callbacks
        raw = conn.connection.driver_connection
        self._inside.member = True
        try:
            raw.execute("SAVEPOINT lumanox_member")  # type: ignore[union-attr]
            yield conn
            raw.execute("RELEASE lumanox_member")  # type: ignore[union-attr]
        except BaseException:
            self._undo_member(group)
            self._end_member(group)
            raise
        finally:
            self._inside.member = False
        self._end_member(group)
        group.done.wait()
        if group.error is not None:
            raise group.error
        for callback in callbacks:
            callback()

    def _open(self) -> _Group:
        locked = self._lock is not None and self._lock.acquire()
        try:
            conn = self._connect()
            try:
                group = self._group = _Group(conn, conn.begin(), locked)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            if locked:
                self._lock.release()  # type: ignore[union-attr]
            raise
        return group

    def _undo_member(self, group: _Group) -> None:
        """Roll back the failed member's own work; the group goes on."""
        raw = group.conn.connection.driver_connection
        try:
            raw.execute("ROLLBACK TO lumanox_member")  # type: ignore[union-attr]
            raw.execute("RELEASE lumanox_member")  # type: ignore[union-attr]
        except Exception as exc:  # the transaction itself is broken: the group fails
            group.error = exc

    def _end_member(self, group: _Group) -> None:
        """Hand the open transaction to a queued writer, or commit the group; then let
        the next writer in (holding the mutex)."""
        try:
            with self._count:
                queued = self._queued
            if group.error is None and queued and group.members < self._max:
                return  # the next writer joins this group and commits it (or hands on)
            self._group = None
            self._finish(group)
        finally:
            self._mutex.release()

    def _finish(self, group: _Group) -> None:
        try:
            if group.error is None:
                group.tx.commit()
                if self._trace is not None:
                    self._trace(f"group-commit {group.members}")
            else:
                group.tx.rollback()
        except BaseException as exc:
            group.error = exc
            with contextlib.suppress(Exception):
                group.tx.rollback()
        finally:
            group.conn.info.pop("after_commit", None)
            group.conn.close()
            if group.locked:
                self._lock.release()  # type: ignore[union-attr]
            group.done.set()


_ALL: weakref.WeakSet[GroupCommitter] = weakref.WeakSet()
os.register_at_fork(after_in_child=lambda: [c._reset() for c in list(_ALL)])
