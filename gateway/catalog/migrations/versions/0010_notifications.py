"""notifications: webhook endpoints, event rules, delivery outbox and attempts, the event
watcher's cursors and single-holder leases (gateway/notify)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name=op.f("fk_webhook_endpoints_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(op.f("ix_webhook_endpoints_tenant_id"), "webhook_endpoints",
                    ["tenant_id"])
    op.create_table(
        "event_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("webhook_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name=op.f("fk_event_rules_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhook_endpoints.id"], ondelete="CASCADE",
                                name=op.f("fk_event_rules_webhook_id_webhook_endpoints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_rules")),
    )
    op.create_index(op.f("ix_event_rules_tenant_id"), "event_rules", ["tenant_id"])
    op.create_table(
        "notify_outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", _TIME, nullable=False),
        sa.Column("lease_holder", sa.String(length=128), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("done_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notify_outbox_dedupe_key")),
    )
    op.create_index(op.f("ix_notify_outbox_state_next_at"), "notify_outbox",
                    ["state", "next_at"])
    op.create_index(op.f("ix_notify_outbox_tenant_id_state"), "notify_outbox",
                    ["tenant_id", "state"])
    op.create_table(
        "notify_attempts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("outbox_id", _ID, nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["notify_outbox.id"], ondelete="CASCADE",
                                name=op.f("fk_notify_attempts_outbox_id_notify_outbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_attempts")),
    )
    op.create_index(op.f("ix_notify_attempts_outbox_id"), "notify_attempts", ["outbox_id"])
    op.create_table(
        "notify_cursors",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_notify_cursors")),
    )
    op.create_table(
        "notify_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_notify_leases")),
    )


def downgrade() -> None:
    for table in ("notify_leases", "notify_cursors", "notify_attempts", "notify_outbox",
                  "event_rules", "webhook_endpoints"):
        op.drop_table(table)
