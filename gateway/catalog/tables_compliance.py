"""Catalog tables of the data-protection features (gateway/compliance): retention rules,
legal holds, trash, queued blob deletions, the retention lease and the breach register.

They share ``metadata`` (gateway/catalog/schema_base.py); ``gateway.catalog.tables``
re-exports them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.catalog.schema_base import UTC_TIME, metadata

# --- retention, trash and legal hold (gateway/compliance/retention, migration 0007) --------
# Paths are stored as written (stored case) and as ``path_key``: each component's name_key
# joined by "/" ("/" for the whole tenant), the form the core compares.

retention_rules = Table(
    "retention_rules",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"),
           primary_key=True),
    Column("path_key", Text, primary_key=True),
    Column("path", Text, nullable=False),
    Column("files_days", Integer, nullable=True),  # NULL: files are kept
    Column("after", String(8), nullable=False, default="upload"),  # upload | change
    Column("audit_days", Integer, nullable=True),  # tenant rule only; NULL: forever
    Column("updated_at", UTC_TIME, nullable=False),
)

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("path_key", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
    Index(None, "tenant_id"),
)

trash_policy = Table(
    "trash_policy",  # a row: the tenant's trash is on and keeps items ``days`` days
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"),
           primary_key=True),
    Column("days", Integer, nullable=False),
    Column("updated_at", UTC_TIME, nullable=False),
)

trash_items = Table(
    "trash_items",  # a deleted file or folder whose node left the tree (parent_id NULL)
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("tenant_id", String(32), nullable=False),
    Column("node_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("path", Text, nullable=False),  # where it was (stored case)
    Column("path_key", Text, nullable=False),
    Column("kind", String(4), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("deleted_at", UTC_TIME, nullable=False),
    Column("deleted_by", String(128), nullable=True),
    ForeignKeyConstraint(["tenant_id", "node_id"], ["nodes.tenant_id", "nodes.id"],
                         ondelete="CASCADE"),
    UniqueConstraint("tenant_id", "node_id"),
    Index(None, "tenant_id", "deleted_at"),
)

blob_deletions = Table(
    "blob_deletions",  # released blobs still to delete from the store (crash-safe)
    metadata,
    Column("blob_id", String(32), primary_key=True),
    Column("queued_at", UTC_TIME, nullable=False),
)

retention_lease = Table(
    "retention_lease",  # one node at a time runs the daily retention job
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=True),
    Column("expires_at", UTC_TIME, nullable=True),
    Column("last_run_at", UTC_TIME, nullable=True),
)


# --- data protection: the breach register (gateway/compliance/breach, migration 0008) -------

breaches = Table(
    "breaches",  # GDPR Art. 33(5): every personal data breach, its effects and remedies
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("discovered_at", UTC_TIME, nullable=False),
    Column("nature", Text, nullable=False),
    Column("measures", Text, nullable=True),
    Column("notified_authority_at", UTC_TIME, nullable=True),
    Column("notified_subjects_at", UTC_TIME, nullable=True),
    Column("report", Text, nullable=True),  # JSON of `breach report` attached, if any
    Column("recorded_at", UTC_TIME, nullable=False),
    Index(None, "tenant_id", "discovered_at"),
)
