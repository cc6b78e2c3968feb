"""Small files kept inline in the catalog: same format, same guarantees, no store blob."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select, update
from store_checks import assert_store_matches_catalog

from gateway import admin
from gateway.catalog.tables import blobs, nodes
from gateway.core import Core
from gateway.errors import BlobIntegrityError
from gateway.session import Session


def _inline_of(core: Core, session: Session, path: str) -> bytes | None:
    blob_id = session.stat_quiet(path)
    with core.catalog.read() as conn:
        row = conn.execute(select(blobs.c.inline_data).select_from(
            blobs.join(nodes, nodes.c.blob_id == blobs.c.id)).where(
            nodes.c.id == blob_id.node_id)).one()
    return row.inline_data


def test_a_small_file_lives_encrypted_in_the_catalog_only(core: Core, session: Session) -> None:
    marker = b"INLINE-PLAINTEXT-MARKER " * 100
    session.write_file("/note.txt", marker)
    stored = _inline_of(core, session, "/note.txt")
    assert stored is not None and marker[:24] not in stored
    assert len(stored) > len(marker)  # header, tags and trailer of the blob format
    assert list(core.store.enumerate()) == []
    assert session.read_file("/note.txt") == marker
    with session.open_read("/note.txt", offset=100, length=50) as r:
        assert r.read() == marker[100:150]


def test_the_threshold_decides_catalog_or_store(core: Core, session: Session) -> None:
    limit = core.config.storage.inline_max_bytes
    session.write_file("/at-limit", os.urandom(limit))
    session.write_file("/over-limit", os.urandom(limit + 1))
    assert _inline_of(core, session, "/at-limit") is not None
    assert _inline_of(core, session, "/over-limit") is None
    assert len(list(core.store.enumerate())) == 1
    assert_store_matches_catalog(core)


def test_overwrite_copy_and_delete_leave_no_orphans(core: Core, session: Session) -> None:
    small, big, small2 = b"small", os.urandom(300_000), b"small again"
    session.write_file("/f", small)
    session.write_file("/f", big)
    assert_store_matches_catalog(core)
    assert len(list(core.store.enumerate())) == 1
    session.write_file("/f", small2)
    assert_store_matches_catalog(core)
    assert list(core.store.enumerate()) == []
    session.copy("/f", "/g")  # shares the inline blob
    session.delete("/f")
    assert session.read_file("/g") == small2
    session.delete("/g")
    with core.catalog.read() as conn:
        assert conn.execute(select(blobs.c.id)).first() is None
    assert_store_matches_catalog(core)


def test_growing_an_inline_file_past_the_limit_moves_it_to_the_store(
        core: Core, session: Session) -> None:
    head = os.urandom(1000)
    session.write_file("/grow", head)
    tail = os.urandom(core.config.storage.inline_max_bytes)
    with session.open_write("/grow", truncate=False) as w:
        w.write(tail, offset=len(head))
    assert session.read_file("/grow") == head + tail
    assert _inline_of(core, session, "/grow") is None
    assert_store_matches_catalog(core)


def test_tampered_inline_ciphertext_is_detected(core: Core, session: Session) -> None:
    session.write_file("/t", b"do not touch " * 50)
    stored = bytearray(_inline_of(core, session, "/t") or b"")
    stored[len(stored) // 2] ^= 0x01
    with core.catalog.write() as conn:
        conn.execute(update(blobs).where(blobs.c.inline_data.is_not(None))
                     .values(inline_data=bytes(stored)))
    with pytest.raises(BlobIntegrityError):
        session.read_file("/t")


def test_inline_can_be_switched_off(tmp_path: Path, db_url: str, config_factory) -> None:  # type: ignore[no-untyped-def]
    cfg = config_factory(tmp_path, db_url)
    cfg.storage.inline_max_bytes = 0
    with Core.open(cfg) as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "u")
        s = core.session(admin.principal_for(core, "acme", "u"), "test", "::1")
        s.write_file("/tiny", b"x")
        assert _inline_of(core, s, "/tiny") is None
        assert len(list(core.store.enumerate())) == 1
        assert s.read_file("/tiny") == b"x"
