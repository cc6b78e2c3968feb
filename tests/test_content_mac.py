"""Content MACs instead of plain SHA-256 digests (issue #9.19), SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from gateway import admin
from gateway.catalog.tables import blobs, nodes
from gateway.contentmac import backfill_content_macs
from gateway.core import Core
from gateway.errors import KeyUnavailable


def _mac(core: Core, tenant_id: str, data: bytes) -> str:
    return hmac.new(core.keyring.content_mac_key(tenant_id), data, hashlib.sha256).hexdigest()


def test_writes_store_a_tenant_mac_and_copies_keep_it(core: Core, session) -> None:  # type: ignore[no-untyped-def]
    entry = session.write_file("/a.txt", b"hello")
    assert entry.content_mac == _mac(core, session.tenant_id, b"hello")
    assert entry.content_mac != hashlib.sha256(b"hello").hexdigest()
    copied = session.copy("/a.txt", "/b.txt")
    assert copied.content_mac == entry.content_mac
    with core.catalog.read() as conn:
        stored = conn.execute(select(blobs.c.content_mac)).scalars().all()
    assert stored == [entry.content_mac]


def test_rotation_keeps_the_mac_key_and_a_purge_destroys_it(core: Core, session) -> None:  # type: ignore[no-untyped-def]
    tid = session.tenant_id
    before = core.keyring.content_mac_key(tid)
    core.keyring.rotate_tenant(tid)
    assert core.keyring.content_mac_key(tid) == before
    assert session.write_file("/x", b"same").content_mac == _mac(core, tid, b"same")
    other = admin.create_tenant(core, "other")
    assert core.keyring.content_mac_key(other.id) != before
    admin.purge_tenant(core, "acme")
    with pytest.raises(KeyUnavailable):
        core.keyring.content_mac_key(tid)


def test_upgrade_from_0003_drops_digests_and_backfills_macs(core: Core, session) -> None:  # type: ignore[no-untyped-def]
    files = {"small.txt": b"small and inline", "large.bin": bytes(range(256)) * 1024}
    for name, data in files.items():
        session.write_file(f"/{name}", data)
    session.write_file("/empty", b"")
    command.downgrade(core.catalog.alembic_config(), "0003")
    with core.catalog.engine.begin() as conn:  # what the old code stored
        for name, data in files.items():
            conn.execute(text("UPDATE nodes SET sha256 = :h WHERE name = :n"),
                         {"h": hashlib.sha256(data).hexdigest(), "n": name})
    core.catalog.migrate()
    with core.catalog.engine.connect() as conn:
        for table in ("blobs", "nodes"):
            assert "sha256" not in {c["name"] for c in inspect(conn).get_columns(table)}
        assert conn.execute(select(nodes.c.content_mac).where(
            nodes.c.blob_id.is_not(None))).scalars().all() == [None, None, None]
    assert backfill_content_macs(core) == 3
    assert backfill_content_macs(core) == 0  # idempotent
    with core.catalog.read() as conn:
        rows = dict(conn.execute(select(nodes.c.name, nodes.c.content_mac)
                                 .where(nodes.c.blob_id.is_not(None))).all())
    files["empty"] = b""
    assert rows == {n: _mac(core, session.tenant_id, d) for n, d in files.items()}
    assert session.stat("/small.txt").content_mac == rows["small.txt"]


def test_backfill_skips_a_purged_tenant(core: Core, session) -> None:  # type: ignore[no-untyped-def]
    session.write_file("/a", b"a")
    admin.create_tenant(core, "keep")
    admin.create_user(core, "keep", "u")
    keep = core.session(admin.principal_for(core, "keep", "u"), "test", "127.0.0.1")
    keep.write_file("/b", b"b")
    with core.catalog.write() as conn:
        conn.execute(blobs.update().values(content_mac=None))
        conn.execute(nodes.update().values(content_mac=None))
        core.keyring.destroy_tenant_keys(conn, session.tenant_id)  # shredded, rows still there
    assert backfill_content_macs(core) == 1
    assert keep.stat("/b").content_mac == _mac(core, keep.tenant_id, b"b")
