"""Catalog plumbing: migrations, SQLite settings, refusing an outdated schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.catalog import Catalog
from gateway.catalog.tables import metadata
from gateway.core import Core
from gateway.errors import SchemaOutOfDate


def test_migrations_create_the_schema_the_code_describes(empty_db_url: str) -> None:
    """The migrations and tables.py agree (alembic finds nothing to autogenerate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    catalog = Catalog(empty_db_url)
    catalog.migrate()
    with catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    catalog.dispose()
    assert diff == []


def test_outdated_schema_is_refused_when_not_allowed_to_migrate(
        tmp_path: Path, empty_db_url: str, config_factory) -> None:  # type: ignore[no-untyped-def]
    config = config_factory(tmp_path, empty_db_url)
    with pytest.raises(SchemaOutOfDate, match="lumanox-gateway migrate"):
        Core.open(config, migrate=False)
    Core.open(config, migrate=True).close()
    Core.open(config, migrate=False).close()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    with catalog.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    catalog.dispose()


def test_write_transactions_roll_back_on_error(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    catalog.migrate()
    with pytest.raises(RuntimeError), catalog.write() as conn:
        conn.execute(text("INSERT INTO audit_heads(chain, seq, hash) VALUES ('x', 1, 'h')"))
        raise RuntimeError("boom")
    with catalog.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_heads")).scalar() == 0
    catalog.dispose()


def test_sqlite_commits_are_durable(tmp_path, config_factory) -> None:  # type: ignore[no-untyped-def]
    """WAL with synchronous=FULL: an acknowledged upload survives a power loss."""
    cfg = config_factory(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    with Core.open(cfg) as core, core.catalog.write() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_upgrading_to_inline_blobs_keeps_existing_blobs(empty_db_url: str) -> None:
    """Migration 0003 adds ``blobs.inline_data`` to a catalog that already holds blobs:
    existing rows survive unchanged and stay in the blob store (NULL)."""
    from alembic import command

    catalog = Catalog(empty_db_url)
    command.upgrade(catalog.alembic_config(), "0002")
    with catalog.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO tenants (id, name, display_name, protocols, case_insensitive, "
            "used_bytes, used_files, settings, disabled, created_at) VALUES "
            "('t1', 'acme', '', '[]', true, 0, 0, '{}', false, CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO blobs (id, tenant_id, size, stored_size, key_version, wrapped_key, "
            "sha256, created_at) VALUES ('b1', 't1', 5, 77, 1, :k, 'ab', CURRENT_TIMESTAMP)"),
            {"k": b"wrapped"})
    catalog.migrate()
    with catalog.engine.connect() as conn:
        row = conn.execute(text("SELECT size, stored_size, wrapped_key, inline_data "
                                "FROM blobs WHERE id = 'b1'")).one()
    catalog.dispose()
    assert (row.size, row.stored_size, bytes(row.wrapped_key), row.inline_data) == \
        (5, 77, b"wrapped", None)
