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
