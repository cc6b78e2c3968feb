"""directory identity of users; canonical user names; catalog facts (the master key id)

User names become canonical (NFKC, case-folded: gateway/policy/logins.py), so that every
spelling of a login finds the one account; a name whose canonical form another account of
the tenant already has is left as it is (that account cannot log in until an admin renames
one of them).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _canonical(name: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def _canonicalise_names() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, tenant_id, name FROM users")).all()
    taken = {(r.tenant_id, r.name) for r in rows}
    for r in rows:
        canon = _canonical(r.name)
        if canon != r.name and (r.tenant_id, canon) not in taken:
            conn.execute(sa.text("UPDATE users SET name = :name WHERE id = :id"),
                         {"name": canon, "id": r.id})
            taken.discard((r.tenant_id, r.name))
            taken.add((r.tenant_id, canon))


def upgrade() -> None:
    _canonicalise_names()
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
