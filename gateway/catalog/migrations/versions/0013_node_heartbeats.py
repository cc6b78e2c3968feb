"""node heartbeats: gateway_nodes (one row per node name, refreshed by serve's supervisor)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_nodes",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("last_seen", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_gateway_nodes"),
    )


def downgrade() -> None:
    op.drop_table("gateway_nodes")
