"""retention rules, trash, legal holds, pending blob deletions, the retention job lease

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def _tenant_fk(name: str) -> sa.Column:
    return sa.Column("tenant_id", sa.String(32),
                     sa.ForeignKey("tenants.id", ondelete="CASCADE",
                                   name=f"fk_{name}_tenant_id_tenants"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "retention_rules",
        _tenant_fk("retention_rules"),
        sa.Column("path_key", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("files_days", sa.Integer(), nullable=True),
        sa.Column("after", sa.String(8), nullable=False),
        sa.Column("audit_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "path_key", name="pk_retention_rules"),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(32), nullable=False),
        _tenant_fk("legal_holds"),
        sa.Column("path_key", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_legal_holds"),
    )
    op.create_index("ix_legal_holds_tenant_id", "legal_holds", ["tenant_id"])
    op.create_table(
        "trash_policy",
        _tenant_fk("trash_policy"),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_trash_policy"),
    )
    op.create_table(
        "trash_items",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("node_id", _ID, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("path_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", _TIME, nullable=False),
        sa.Column("deleted_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trash_items"),
        sa.ForeignKeyConstraint(["tenant_id", "node_id"], ["nodes.tenant_id", "nodes.id"],
                                ondelete="CASCADE",
                                name="fk_trash_items_tenant_id_node_id_nodes"),
        sa.UniqueConstraint("tenant_id", "node_id", name="uq_trash_items_tenant_id_node_id"),
    )
    op.create_index("ix_trash_items_tenant_id_deleted_at", "trash_items",
                    ["tenant_id", "deleted_at"])
    op.create_table(
        "blob_deletions",
        sa.Column("blob_id", sa.String(32), nullable=False),
        sa.Column("queued_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("blob_id", name="pk_blob_deletions"),
    )
    op.create_table(
        "retention_lease",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(128), nullable=True),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("last_run_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_retention_lease"),
    )


def downgrade() -> None:
    for table in ("retention_lease", "blob_deletions", "trash_items", "trash_policy",
                  "legal_holds", "retention_rules"):
        op.drop_table(table)
