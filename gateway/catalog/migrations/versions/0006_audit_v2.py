"""audit v2: keyed chain, salted commitments of personal fields, sealed v1 heads

Existing events keep format 1 (plain SHA-256). Each existing chain head records its last
v1 event (``v1_seq``); the first process that opens the catalog with the master key
verifies that v1 part and seals it (``v1_seal``, an HMAC under the audit key); new events
continue the chain as format 2 (gateway/auditv2).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("format", sa.SmallInteger(), nullable=False,
                                   server_default="1"))
        batch.add_column(sa.Column("commitments", sa.Text(), nullable=True))
        batch.add_column(sa.Column("salts", sa.Text(), nullable=True))
    with op.batch_alter_table("audit_heads") as batch:
        batch.add_column(sa.Column("v1_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("v1_seal", sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_heads SET v1_seq = seq")


def downgrade() -> None:
    with op.batch_alter_table("audit_heads") as batch:
        batch.drop_column("v1_seal")
        batch.drop_column("v1_seq")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("salts")
        batch.drop_column("commitments")
        batch.drop_column("format")
