"""named blob stores: blobs.store (existing rows: "default"), store_releases queue

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ALTER (SQLite and PostgreSQL): rebuilding ``blobs`` in batch mode would trip
    # the foreign keys that reference it
    op.add_column("blobs", sa.Column("store", sa.String(64), nullable=False,
                                     server_default="default"))
    op.create_table(
        "store_releases",
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("blob_id", sa.String(32), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("store", "blob_id", name="pk_store_releases"),
    )


def downgrade() -> None:
    op.drop_table("store_releases")
    op.execute("ALTER TABLE blobs DROP COLUMN store")
