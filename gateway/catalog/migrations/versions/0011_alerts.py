"""alert rules: evaluator lease and cursor, per-tenant rule overrides, seen networks,
fired alerts (gateway/alerts)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_lease",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("verified_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_alert_lease"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_alert_rules_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "rule", name="pk_alert_rules"),
    )
    op.create_table(
        "alert_seen_networks",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("first_seen", UTC_TIME, nullable=False),
        sa.Column("last_seen", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "user", "network", name="pk_alert_seen_networks"),
    )
    op.create_table(
        "alerts_fired",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("fired_at", UTC_TIME, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("delivery", sa.Text(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts_fired"),
    )
    op.create_index("ix_alerts_fired_dedupe_key_at", "alerts_fired", ["dedupe_key", "at"])
    op.create_index("ix_alerts_fired_tenant_fired_at", "alerts_fired", ["tenant", "fired_at"])


def downgrade() -> None:
    op.drop_table("alerts_fired")
    op.drop_table("alert_seen_networks")
    op.drop_table("alert_rules")
    op.drop_table("alert_lease")
