"""Rolling upgrade: a node of an older version, restarted after a newer version migrated
the catalog, refuses with one line that names the real problem (not "run migrate",
which would try to migrate the catalog backwards), whatever ``auto_migrate`` says."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.config import Config
from gateway.core import Core
from gateway.errors import SchemaOutOfDate


@pytest.mark.parametrize("auto_migrate", [True, False])
def test_old_node_refuses_a_catalog_migrated_by_a_newer_version(
        config: Config, tmp_path: Path, auto_migrate: bool) -> None:
    Core.open(config).close()
    engine = create_engine(config.catalog.url)
    with engine.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        # what `migrate` of a newer version leaves
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_newer'"))
    try:
        config.catalog.auto_migrate = auto_migrate
        with pytest.raises(SchemaOutOfDate, match="newer than this version") as err:
            Core.open(config)
        assert "9999_newer" in str(err.value)
        assert "install that version" in str(err.value)
    finally:  # the run's PostgreSQL database is shared by later tests
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        engine.dispose()
