"""Envelope keys: rotation keeps data readable, destruction shreds exactly one tenant."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select
from store_checks import assert_store_matches_catalog

from gateway import admin
from gateway.catalog.tables import blobs, tenant_keys
from gateway.config import Config
from gateway.core import Core
from gateway.errors import ConfigError, KeyUnavailable
from gateway.keyring import Keyring, read_master_key_file


def _user_session(core: Core, tenant: str):  # type: ignore[no-untyped-def]
    admin.create_tenant(core, tenant)
    admin.create_user(core, tenant, "u")
    return core.session(admin.principal_for(core, tenant, "u"), "test", "::1")


def test_master_key_file_is_private_and_exact(config: Config, tmp_path) -> None:
    mode = config.master_key_file.stat().st_mode & 0o777
    assert mode == 0o600
    os.chmod(config.master_key_file, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_master_key_file(config.master_key_file)
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    os.chmod(short, 0o600)
    with pytest.raises(ConfigError, match="32 bytes"):
        read_master_key_file(short)
    with pytest.raises(ConfigError, match="not found"):
        read_master_key_file(tmp_path / "missing.key")


def test_no_key_is_stored_unwrapped(core: Core) -> None:
    s = _user_session(core, "acme")
    s.write_file("/f", b"data")
    with core.catalog.read() as conn:
        wrapped = conn.execute(select(tenant_keys.c.wrapped_key)).scalars().all()
        dks = conn.execute(select(blobs.c.wrapped_key)).scalars().all()
    # a wrapped 32-byte key is nonce(12) + ciphertext(32) + tag(16)
    assert all(len(w) == 60 for w in wrapped + dks)


def test_rotate_tenant_rewraps_without_reencrypting(core: Core) -> None:
    s = _user_session(core, "acme")
    data = os.urandom(100_000)
    s.write_file("/a", data)
    blob_files_before = {b.blob_id: b.size for b in core.store.enumerate()}
    version, count = core.keyring.rotate_tenant(s.tenant_id)
    assert (version, count) == (2, 1)
    with core.catalog.read() as conn:
        assert conn.execute(select(blobs.c.key_version)).scalars().all() == [2]
        states = dict(conn.execute(select(tenant_keys.c.version, tenant_keys.c.state)).all())
    assert states == {1: "retired", 2: "active"}
    assert {b.blob_id: b.size for b in core.store.enumerate()} == blob_files_before
    assert s.read_file("/a") == data
    s.write_file("/b", b"new data under v2")
    assert s.read_file("/b") == b"new data under v2"


def test_rotate_master_keeps_everything_readable(config: Config, core: Core) -> None:
    s = _user_session(core, "acme")
    s.write_file("/a", b"before rotation")
    old_key = config.master_key_file.read_bytes()
    assert core.keyring.rotate_master() == 1
    assert config.master_key_file.read_bytes() != old_key
    assert not config.master_key_file.with_name("master.key.next").exists()
    assert s.read_file("/a") == b"before rotation"
    # a fresh process with the new key file reads it too
    fresh = Keyring.open(core.catalog, config.master_key_file)
    t = admin.get_tenant(core, "acme")
    assert fresh.tenant_key(t.id, 1) == core.keyring.tenant_key(t.id, 1)
    # another process still holding the old key picks the new one up from the file
    other = Keyring(core.catalog, old_key, config.master_key_file)
    assert other.tenant_key(t.id, 1) == core.keyring.tenant_key(t.id, 1)
    # the old key alone no longer opens anything
    bad = Keyring(core.catalog, old_key)
    with pytest.raises(KeyUnavailable, match="another master key"):
        bad.tenant_key(t.id, 1)


def test_interrupted_master_rotation_recovers(config: Config, core: Core) -> None:
    """A .next key file left by a rotation that did not commit is discarded at start."""
    s = _user_session(core, "acme")
    s.write_file("/a", b"x")
    nxt = config.master_key_file.with_name("master.key.next")
    nxt.write_bytes(os.urandom(32))
    os.chmod(nxt, 0o600)
    kr = Keyring.open(core.catalog, config.master_key_file)
    assert not nxt.exists()
    assert kr.master_key_id == core.keyring.master_key_id


def test_destroyed_tenant_key_shreds_only_that_tenant(core: Core) -> None:
    acme = _user_session(core, "acme")
    globex = _user_session(core, "globex")
    acme.write_file("/a", b"acme data")
    globex.write_file("/g", b"globex data")
    with core.catalog.write() as conn:
        core.keyring.destroy_tenant_keys(conn, acme.tenant_id)
    with pytest.raises(KeyUnavailable):
        acme.read_file("/a")
    with pytest.raises(KeyUnavailable):
        acme.write_file("/new", b"no key, no write")
    assert globex.read_file("/g") == b"globex data"


def test_purge_tenant_removes_keys_rows_and_blobs(core: Core) -> None:
    acme = _user_session(core, "acme")
    globex = _user_session(core, "globex")
    acme.write_file("/a", b"acme data")  # small: kept inline in the catalog
    acme.write_file("/big", os.urandom(200_000))  # in the blob store
    globex.write_file("/g", b"globex data" * 10_000)
    assert admin.purge_tenant(core, "acme") == 2
    assert [t.name for t in admin.list_tenants(core)] == ["globex"]
    assert len(list(core.store.enumerate())) == 1
    assert_store_matches_catalog(core)
    assert globex.read_file("/g") == b"globex data" * 10_000
