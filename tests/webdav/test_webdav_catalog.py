"""Catalog storage of WebDAV locks and dead properties, on SQLite and PostgreSQL (the
``core``/``session`` fixtures of tests/conftest.py), without a server."""

from __future__ import annotations

import threading
import time

import pytest

from gateway import admin
from gateway.catalog import locks, namespace as ns
from gateway.errors import PermissionDenied


def _lock(root: str, scope: str = "exclusive") -> dict:
    return {"root": root, "type": "write", "scope": scope, "depth": "0", "owner": b"<o/>",
            "principal": "alice@acme", "timeout": 60}


def test_lock_rows_roundtrip_and_expiry(core, tenant) -> None:  # type: ignore[no-untyped-def]
    with core.catalog.write() as conn:
        locks.create(conn, tenant.id, "opaquelocktoken:1", _lock("/a"))
        locks.create(conn, tenant.id, "opaquelocktoken:2", {**_lock("/b"), "timeout": 1})
    with core.catalog.read() as conn:
        got = locks.get(conn, tenant.id, "opaquelocktoken:1")
        assert got and got["root"] == "/a" and got["owner"] == b"<o/>"
        assert {lk["token"] for lk in locks.all_locks(conn, tenant.id)} == {
            "opaquelocktoken:1", "opaquelocktoken:2"}
    time.sleep(1.2)
    with core.catalog.write() as conn:
        assert locks.get(conn, tenant.id, "opaquelocktoken:2") is None
        assert locks.purge_expired(conn, tenant.id) == 1
        refreshed = locks.refresh(conn, tenant.id, "opaquelocktoken:1", 600)
        assert refreshed and refreshed["timeout"] == 600
        locks.delete_token(conn, tenant.id, "opaquelocktoken:1")
    with core.catalog.read() as conn:
        assert locks.all_locks(conn, tenant.id) == []


def test_check_and_create_is_serialised(core, tenant) -> None:  # type: ignore[no-untyped-def]
    """Two writers doing check-then-insert under lock_tenant: exactly one inserts."""
    granted: list[int] = []
    barrier = threading.Barrier(2)

    def contender(i: int) -> None:
        barrier.wait()
        with core.catalog.write() as conn:
            ns.lock_tenant(conn, tenant.id)
            if not locks.all_locks(conn, tenant.id):
                time.sleep(0.2)  # widen the window a non-atomic check would lose
                locks.create(conn, tenant.id, f"opaquelocktoken:{i}", _lock("/x"))
                granted.append(i)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 1


def test_dead_properties_follow_nodes(core, session) -> None:  # type: ignore[no-untyped-def]
    session.mkdir("/d")
    session.write_file("/d/f.txt", b"x")
    session.set_props("/d/f.txt", {"{urn:x}a": "<a xmlns='urn:x'>1</a>", "{urn:x}b": "<b/>"})
    session.set_props("/d/f.txt", {"{urn:x}b": None})
    assert session.get_props("/d/f.txt") == {"{urn:x}a": "<a xmlns='urn:x'>1</a>"}
    assert session.child_props("/d") == {"f.txt": {"{urn:x}a": "<a xmlns='urn:x'>1</a>"}}
    session.copy("/d", "/e")
    assert session.get_props("/e/f.txt") == session.get_props("/d/f.txt")
    session.move("/d/f.txt", "/d/g.txt")
    assert "{urn:x}a" in session.get_props("/d/g.txt")
    session.delete("/d", recursive=True)
    assert session.get_props("/e/f.txt")  # the copy keeps its own


def test_set_props_needs_write_permission(core, session) -> None:  # type: ignore[no-untyped-def]
    session.write_file("/ro.txt", b"x")
    admin.create_user(core, "acme", "reader", password="reader-pw-123",
                      permissions='[{"prefix": "/", "perms": ["list", "read"]}]')
    reader = core.session(admin.principal_for(core, "acme", "reader"), "test", "127.0.0.1")
    with pytest.raises(PermissionDenied):
        reader.set_props("/ro.txt", {"{urn:x}a": "<a/>"})
    assert reader.get_props("/ro.txt") == {}
