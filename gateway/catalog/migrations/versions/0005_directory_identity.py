"""directory identity of users; catalog facts (the master key id)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("directory_id", sa.String(length=255), nullable=True))
        batch.create_unique_constraint(op.f("uq_users_tenant_id_directory_id"),
                                       ["tenant_id", "directory_id"])
    op.create_table(
        "catalog_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_catalog_meta")),
    )


def downgrade() -> None:
    op.drop_table("catalog_meta")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_tenant_id_directory_id"), type_="unique")
        batch.drop_column("directory_id")
