"""Catalog tables of the operations features: admin API tokens (gateway/admin_api),
webhook and e-mail notifications (gateway/notify) and alert rules (gateway/alerts).

They share ``metadata`` (gateway/catalog/schema_base.py); ``gateway.catalog.tables``
re-exports them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from gateway.catalog.schema_base import UTC_TIME, metadata

# --- webhook / e-mail notifications (gateway/notify, migration 0010) ----------------------

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False, default="[]"),  # JSON kinds accepted; [] = all
    Column("secret_sealed", Text, nullable=False),  # "version:base64" (gateway/notify/secrets)
    Column("created_at", UTC_TIME, nullable=False),
    Index(None, "tenant_id"),
)

event_rules = Table(
    "event_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),  # folder, normalised; "/" = the whole tenant
    Column("events", Text, nullable=False),  # JSON: upload | download | delete
    Column("webhook_id", String(32), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
           nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
    Index(None, "tenant_id"),
)

notify_outbox = Table(
    "notify_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("tenant_id", String(32), nullable=True),  # kept after a purge: no foreign key
    Column("kind", String(64), nullable=False),  # e.g. file.uploaded, alert
    Column("target", String(400), nullable=False),  # webhook:<endpoint id> | mail:<address>
    Column("payload", Text, nullable=False),  # JSON
    Column("dedupe_key", String(200), nullable=True, unique=True),
    Column("state", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", UTC_TIME, nullable=False),
    Column("lease_holder", String(128), nullable=True),
    Column("lease_until", UTC_TIME, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTC_TIME, nullable=False),
    Column("done_at", UTC_TIME, nullable=True),
    Index(None, "state", "next_at"),
    Index(None, "tenant_id", "state"),
)

notify_attempts = Table(
    "notify_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("outbox_id", BigInteger().with_variant(Integer, "sqlite"),
           ForeignKey("notify_outbox.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTC_TIME, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status", Integer, nullable=True),  # HTTP status or SMTP reply code
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("holder", String(128), nullable=False),
    Index(None, "outbox_id"),
)

notify_cursors = Table(
    "notify_cursors",  # the event watcher's place in each audit chain
    metadata,
    Column("chain", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

notify_leases = Table(
    "notify_leases",  # one holder at a time for jobs that must run on one node only
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTC_TIME, nullable=False),
)

admin_tokens = Table(
    "admin_tokens",  # bearer tokens of the admin HTTP API (gateway/admin_api/tokens.py)
    metadata,
    Column("id", String(32), primary_key=True),  # public part of the token
    Column("name", String(100), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),  # read | tenants | users | reports | all
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"),
           nullable=True),  # NULL: every tenant
    Column("digest", String(64), nullable=False),  # HMAC-SHA256 hex of the secret part
    Column("created_at", UTC_TIME, nullable=False),
    Column("expires_at", UTC_TIME, nullable=True),
    Column("revoked_at", UTC_TIME, nullable=True),
    Column("last_used_at", UTC_TIME, nullable=True),
)

# --- alert rules over the audit stream (gateway/alerts, migration 0011) ----------------------
alert_lease = Table(
    "alert_lease",  # one evaluator at a time across processes and nodes; its cursor
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTC_TIME, nullable=False),
    Column("cursor", Text, nullable=False, default="{}"),  # JSON: audit chain -> last seq
    Column("verified_at", UTC_TIME, nullable=True),  # last periodic chain verification
)

alert_rules = Table(
    "alert_rules",  # per-tenant overrides of the [alerts] defaults
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"),
           primary_key=True),
    Column("rule", String(64), primary_key=True),
    Column("settings", Text, nullable=False),  # JSON: param -> value
    Column("updated_at", UTC_TIME, nullable=False),
)

alert_seen_networks = Table(
    "alert_seen_networks",  # networks (/24, /48) each account logged in from
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("user", String(128), primary_key=True),
    Column("network", String(64), primary_key=True),
    Column("first_seen", UTC_TIME, nullable=False),
    Column("last_seen", UTC_TIME, nullable=False),
)

alerts_fired = Table(
    "alerts_fired",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("tenant", String(64), nullable=True),
    Column("subject", Text, nullable=False),
    Column("dedupe_key", String(255), nullable=False),
    Column("at", UTC_TIME, nullable=False),  # time of the event that triggered it
    Column("fired_at", UTC_TIME, nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False, default="{}"),  # JSON
    Column("delivery", Text, nullable=False, default="{}"),  # JSON: sink -> state
    Column("repeats", Integer, nullable=False, default=0),  # suppressed within the window
    Column("last_seen_at", UTC_TIME, nullable=True),
    Index(None, "dedupe_key", "at"),
    Index(None, "tenant", "fired_at"),
)
