"""The migrations, applied in order, create exactly the tables declared in tables.py
(SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.catalog.db import migration_head
from gateway.catalog.tables import metadata


def test_migrated_schema_matches_tables(core) -> None:  # type: ignore[no-untyped-def]
    with core.catalog.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        # the newest migration, whatever its number (branches add their own)
        assert ctx.get_current_revision() == core.catalog.schema_status()[1] == \
            migration_head()
        diff = compare_metadata(ctx, metadata)
    assert diff == []
