"""The catalog holds no plain SHA-256 of file content (issue #9.19).

A plain digest lets whoever reads the database confirm that a tenant holds a known file
(and that two tenants hold the same one). The catalog keeps an HMAC-SHA256 under a key
derived from the tenant's key instead. A catalog from before (migration 0003, plain
digests) is upgraded when the gateway starts: the digests are dropped by the migration,
and the gateway computes the MACs from the decrypted content with the tenant keys."""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import pytest
from alembic import command
from sqlalchemy import MetaData, inspect, select, text

from gateway import admin
from gateway.catalog import Catalog
from gateway.catalog.tables import nodes
from gateway.config import load_config
from gateway.core import Core

from .conftest import PW, SecGateway, prepare_gateway, standard_cast

KNOWN = b"a well-known public document that an attacker also has\n" * 20
FILES = {"/known.txt": KNOWN, "/big.bin": os.urandom(300_000)}  # inline and in the store


def _setup(core: Core) -> None:
    standard_cast(core)
    admin.create_tenant(core, "globex")
    admin.create_user(core, "globex", "carol", password=PW)
    acme = core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")
    for path, data in FILES.items():
        acme.write_file(path, data)
    globex = core.session(admin.principal_for(core, "globex", "carol"), "test", "127.0.0.1")
    globex.write_file("/known.txt", KNOWN)


def _to_0003_with_plain_digests(gw: SecGateway) -> None:
    """Turn the catalog into what the old code left: schema 0003 and SHA-256 digests."""
    catalog = Catalog(load_config(gw.config_path).catalog_url)
    command.downgrade(catalog.alembic_config(), "0003")
    with catalog.engine.begin() as conn:
        for path, data in FILES.items():
            conn.execute(text("UPDATE nodes SET sha256 = :h WHERE name = :n"),
                         {"h": hashlib.sha256(data).hexdigest(), "n": path.lstrip("/")})
        conn.execute(text("UPDATE blobs SET sha256 = (SELECT n.sha256 FROM nodes n "
                          "WHERE n.blob_id = blobs.id)"))
        assert conn.execute(text("SELECT count(*) FROM nodes WHERE sha256 = :h"),
                            {"h": hashlib.sha256(KNOWN).hexdigest()}).scalar() == 2
    catalog.dispose()


def _every_value(core: Core) -> list[str]:
    """Every text value of every table of the catalog."""
    values: list[str] = []
    reflected = MetaData()
    with core.catalog.engine.connect() as conn:
        reflected.reflect(conn)
        for table in reflected.sorted_tables:
            for row in conn.execute(select(table)):
                values += [v.lower() for v in row if isinstance(v, str)]
    return values


def _mac_of(core: Core, tenant: str, data: bytes) -> str:
    key = core.keyring.content_mac_key(admin.get_tenant(core, tenant).id)
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _node_macs(core: Core, name: str) -> dict[str, str | None]:
    with core.catalog.read() as conn:
        rows = conn.execute(select(nodes.c.tenant_id, nodes.c.content_mac)
                            .where(nodes.c.name == name)).all()
    names = {t.id: t.name for t in admin.list_tenants(core)}
    return {names[r.tenant_id]: r.content_mac for r in rows}


@pytest.fixture
def upgraded(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    gw = prepare_gateway(tmp_path_factory.mktemp("machash"), _setup)
    _to_0003_with_plain_digests(gw)
    gw.start()
    try:
        deadline = time.monotonic() + 60
        while True:  # the gateway computes the MACs in the background after it started
            with gw.core() as core, core.catalog.read() as conn:
                missing = conn.execute(text("SELECT count(*) FROM blobs "
                                            "WHERE content_mac IS NULL")).scalar()
            if missing == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        yield gw
    finally:
        gw.stop()


def test_upgrade_leaves_no_plain_digest_and_computes_tenant_macs(upgraded: SecGateway) -> None:
    plain = {hashlib.sha256(d).hexdigest() for d in FILES.values()}
    with upgraded.core() as core:
        with core.catalog.engine.connect() as conn:
            for table in ("blobs", "nodes"):
                columns = {c["name"] for c in inspect(conn).get_columns(table)}
                assert "sha256" not in columns and "content_mac" in columns
        assert not plain & set(_every_value(core))
        for path, data in FILES.items():
            macs = _node_macs(core, path.lstrip("/"))
            assert macs["acme"] == _mac_of(core, "acme", data)
        known = _node_macs(core, "known.txt")
        # tenant-specific: the same content does not link the two tenants either
        assert known["globex"] == _mac_of(core, "globex", KNOWN) != known["acme"]
    assert "content MACs" in upgraded.output()


def test_after_the_upgrade_files_etags_and_new_uploads_work(upgraded: SecGateway,
                                                             tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = upgraded.curl("-i", "/known.txt", login="alice@acme")
    head, body = r.stdout.split("\n\n", 1)  # (text mode: CRLF read as LF)
    assert body.encode() == KNOWN
    etag = next(line.split(":", 1)[1].strip() for line in head.splitlines()
                if line.lower().startswith("etag:"))
    r = upgraded.curl("-o", "/dev/null", "-w", "%{http_code}", "-H", f"If-None-Match: {etag}",
                      "/known.txt", login="alice@acme")
    assert r.stdout == "304"

    fresh = b"uploaded after the upgrade\n"
    src = tmp_path / "fresh.txt"
    src.write_bytes(fresh)
    r = upgraded.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                      "--data-binary", f"@{src}", "/fresh.txt", login="alice@acme")
    assert r.stdout == "201"
    with upgraded.core() as core:
        mac = _mac_of(core, "acme", fresh)
        assert _node_macs(core, "fresh.txt") == {"acme": mac}
        assert hashlib.sha256(fresh).hexdigest() not in _every_value(core)
    write = upgraded.wait_audit(action="write", result="ok", path="/fresh.txt")
    assert write and write[-1]["sha256"] == mac  # the audit records the MAC, not a digest
