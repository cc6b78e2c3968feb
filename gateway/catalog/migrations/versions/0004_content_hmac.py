"""content MACs instead of plain SHA-256 digests

The plain digests are dropped here (anyone reading the catalog could confirm that a tenant
holds a known file). The MACs need the tenant keys, which a migration does not have: the
gateway computes them from the content when it starts (``gateway.contentmac``).
SQLite zeroes the freed pages here (secure_delete); PostgreSQL keeps dropped values in the
old row versions until they are rewritten: run ``VACUUM FULL blobs, nodes`` after the
upgrade where the database files themselves may fall into other hands.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 04:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("blobs", "nodes")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed, not left readable
    for table in _TABLES:
        op.add_column(table, sa.Column("content_mac", sa.String(length=64), nullable=True))
        # a plain ALTER (SQLite >= 3.35 and PostgreSQL): rebuilding ``nodes`` in batch mode
        # would cascade-delete what references it
        op.execute(f"ALTER TABLE {table} DROP COLUMN sha256")


def downgrade() -> None:
    """Back to 0003: the digests cannot be recomputed without the keys (empty strings)."""
    op.execute("ALTER TABLE blobs ADD COLUMN sha256 VARCHAR(64) NOT NULL DEFAULT ''")
    op.execute("ALTER TABLE nodes ADD COLUMN sha256 VARCHAR(64)")
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN content_mac")
