"""The catalog's fast paths: hot statements on the driver's cursor, SQLite writers queued
and group-committed (and taking turns across processes), the key cache; on SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from gateway import admin
from gateway.catalog import Catalog, db, namespace as ns
from gateway.catalog.tables import nodes
from gateway.config import Config
from gateway.core import Core
from gateway.errors import KeyUnavailable

PAYLOAD = b"x" * 4096


def _session(core: Core):  # type: ignore[no-untyped-def]
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice")
    return core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")


def test_small_file_write_and_read_take_few_transactions_and_skip_sqlalchemy(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4 KiB overwrite: 2 transactions (check, commit); a read: 1 (+ its batched audit
    write). Node look-ups and audit appends never go through SQLAlchemy's execution."""
    seen: list[str] = []
    monkeypatch.setattr(db, "trace", seen.append)
    core = Core.open(config)
    via_sqlalchemy: list[str] = []
    event.listen(core.catalog.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: via_sqlalchemy.append(statement))
    try:
        s = _session(core)
        s.mkdir("/docs")
        s.write_file("/docs/a.txt", PAYLOAD)
        core.audit.flush()
        for op, tx_limit in ((lambda: s.write_file("/docs/a.txt", PAYLOAD), 2),
                             (lambda: s.read_file("/docs/a.txt"), 2)):
            seen.clear()
            via_sqlalchemy.clear()
            op()
            core.audit.flush()
            txs = [i for i, line in enumerate(seen) if line.startswith("tx ")
                   and "audit_heads.chain" not in "".join(seen[i + 1:i + 2])]  # checkpoint
            assert len(txs) <= tx_limit, seen
            assert not [q for q in via_sqlalchemy
                        if q.startswith(("SELECT nodes.", "INSERT INTO audit_events"))]
            assert any(line.startswith("raw ") and "FROM nodes" in line for line in seen)
    finally:
        core.close()


def test_raw_lookups_return_what_sqlalchemy_reads(config: Config) -> None:
    """Rows read on the driver's cursor become the same Nodes (times aware, in UTC)."""
    with Core.open(config) as core:
        s = _session(core)
        s.mkdir("/d")
        for name in ("b", "A", "c"):
            s.write_file(f"/d/{name}", PAYLOAD)
        tid = s.tenant_id
        with core.catalog.read() as conn:
            folder = ns.resolve(conn, tid, ["d"], True)
            expected = [ns._node(r) for r in conn.execute(
                select(*ns._COLS).where(nodes.c.tenant_id == tid, nodes.c.parent_id == folder.id)
                .order_by(nodes.c.name_key))]
            assert ns.children(conn, tid, folder.id) == expected
            assert ns.children(conn, tid, folder.id, after="a", limit=1) == expected[1:2]
            assert ns.by_id(conn, tid, expected[0].id) == expected[0]
            assert ns.child(conn, tid, folder.id, "a", True) == expected[0]
            assert expected[0].mtime.utcoffset() is not None
            assert ns.root(conn, tid).parent_id is None


def test_threads_of_one_process_queue_for_the_sqlite_writer(tmp_path: Path) -> None:
    """A second writer thread waits for the first in the process's queue instead of
    failing after SQLite's busy timeout (50 ms here; the first writer holds 300 ms)."""
    first = second = Catalog(f"sqlite:///{tmp_path / 'c.db'}", busy_timeout_s=0.05)
    first.migrate()
    holding, errors = threading.Event(), []

    def long_writer() -> None:
        with first.write() as conn:
            conn.execute(text("INSERT INTO audit_heads(chain, seq, hash) VALUES ('a', 1, 'h')"))
            holding.set()
            time.sleep(0.3)

    t = threading.Thread(target=long_writer)
    t.start()
    holding.wait(5)
    try:
        with second.write() as conn:
            conn.execute(text("INSERT INTO audit_heads(chain, seq, hash) VALUES ('b', 1, 'h')"))
    except Exception as exc:  # the busy handler gave up: what the mutex prevents
        errors.append(exc)
    t.join()
    assert errors == []
    with first.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_heads")).scalar() == 2
    first.dispose()


def test_data_keys_are_cached_bounded_and_forgotten_with_the_tenant(config: Config) -> None:
    with Core.open(config) as core:
        s = _session(core)
        s.write_file("/a", PAYLOAD)
        with core.catalog.read() as conn:
            blob_id, version, wrapped = conn.execute(text(
                "SELECT id, key_version, wrapped_key FROM blobs")).one()
        kr = core.keyring
        key = kr.unwrap_data_key(s.tenant_id, blob_id, version, wrapped)
        assert len(kr._data_keys) == 1
        assert kr.unwrap_data_key(s.tenant_id, blob_id, version, wrapped) == key
        with core.catalog.write() as conn:
            kr.destroy_tenant_keys(conn, s.tenant_id)
        with pytest.raises(KeyUnavailable):  # not served from the cache after shredding
            kr.unwrap_data_key(s.tenant_id, blob_id, version, wrapped)


def test_key_cache_drops_the_least_recently_used_and_the_expired() -> None:
    from gateway.crypto.keycache import KeyCache

    cache = KeyCache(entries=2, ttl_s=60)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # "b" is now the least recently used
    cache.put("c", b"3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")
    cache.ttl_s = 0
    assert cache.get("a") is None and len(cache) == 1


def test_concurrent_writers_share_commits_and_a_failure_stays_their_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 threads x 20 writes: every successful write is there, every failed one
    (each 5th) is not, callbacks ran after the commits, and commits were grouped."""
    seen: list[str] = []
    monkeypatch.setattr(db, "trace", seen.append)
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    catalog.migrate()
    committed: list[str] = []
    start = threading.Barrier(16)

    def writer(t: int) -> None:
        start.wait()
        for i in range(20):
            name = f"t{t}-{i}"
            with contextlib.suppress(ValueError), catalog.write() as conn:
                conn.execute(text("INSERT INTO audit_heads(chain, seq, hash) VALUES (:c, 1, 'h')"),
                             {"c": name})
                Catalog.after_commit(conn, lambda name=name: committed.append(name))
                time.sleep(0.001)  # let the others queue
                if i % 5 == 4:
                    raise ValueError("this one fails")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with catalog.read() as conn:
        stored = set(conn.execute(text("SELECT chain FROM audit_heads")).scalars())
    expected = {f"t{t}-{i}" for t in range(16) for i in range(20) if i % 5 != 4}
    assert stored == expected and sorted(committed) == sorted(expected)
    groups = [int(line.split()[1]) for line in seen if line.startswith("group-commit")]
    assert sum(groups) == 16 * 20 and len(groups) < 16 * 20 / 2, groups
    catalog.dispose()


def test_a_nested_write_in_one_thread_is_refused_not_deadlocked(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    catalog.migrate()
    with catalog.write(), pytest.raises(RuntimeError, match="inside another"), \
            catalog.write():
        pass
    with catalog.write() as conn:  # the queue still works
        conn.execute(text("INSERT INTO audit_heads(chain, seq, hash) VALUES ('x', 1, 'h')"))
    catalog.dispose()


def _try_flock(path: Path) -> bool:
    """In a forked child: can another process take the writer lock right now?"""
    import fcntl
    import os

    pid = os.fork()
    if pid == 0:
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os._exit(0)
        except BlockingIOError:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_a_write_transaction_holds_the_writer_turn_of_every_process(tmp_path: Path) -> None:
    """Other processes wait for the lock file (polled every <= 1 ms) rather than in
    SQLite's busy handler; it is held exactly while a write transaction is open."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    catalog.migrate()
    lock = tmp_path / "c.db-writer.lock"
    with catalog.write() as conn:
        conn.execute(text("INSERT INTO audit_heads(chain, seq, hash) VALUES ('x', 1, 'h')"))
        assert not _try_flock(lock)
    assert _try_flock(lock)
    with catalog.read() as conn:  # readers never take it
        assert _try_flock(lock)
    catalog.dispose()


def test_a_file_in_the_root_is_written_without_looking_up_the_root(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """The root's id is known (cached per process): its row is not read again."""
    seen: list[str] = []
    monkeypatch.setattr(db, "trace", seen.append)
    with Core.open(config) as core:
        s = _session(core)
        s.write_file("/a.txt", PAYLOAD)
        seen.clear()
        entry = s.write_file("/a.txt", PAYLOAD * 2)
        assert entry.size == 2 * len(PAYLOAD) and s.stat("/").is_dir
        writes = seen[:seen.index(next(line for line in seen if "audit_events" in line))]
        assert not [line for line in writes if "parent_id IS NULL" in line]
