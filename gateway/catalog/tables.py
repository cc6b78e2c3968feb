"""The catalog schema (SQLAlchemy Core). Alembic migrations under ``migrations/`` create it.

Design notes:
- ``nodes`` is the namespace tree. A node's parent must belong to the same tenant: the
  composite foreign key ``(tenant_id, parent_id) -> nodes(tenant_id, id)`` makes a
  cross-tenant link impossible in the database itself, not only in code.
- ``name_key`` is the name as compared for uniqueness: the NFC name, case-folded when the
  tenant is case-insensitive. ``(tenant_id, parent_id, name_key)`` is unique.
- ``blobs`` maps an opaque blob id to its key material; several nodes may share one blob
  (a copy is a new node pointing at the same immutable blob).
- Counters (``used_bytes``/``used_files``) on tenants and users are updated in the same
  transaction as the namespace change, so quota checks are atomic across processes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.catalog.schema_base import UTC_TIME as UTC_TIME, metadata as metadata

# the feature tables live in modules of their own, on the same metadata; re-exported here
from gateway.catalog.tables_compliance import (
    blob_deletions as blob_deletions,
    breaches as breaches,
    legal_holds as legal_holds,
    retention_lease as retention_lease,
    retention_rules as retention_rules,
    trash_items as trash_items,
    trash_policy as trash_policy,
)
from gateway.catalog.tables_operations import (
    admin_tokens as admin_tokens,
    alert_lease as alert_lease,
    alert_rules as alert_rules,
    alert_seen_networks as alert_seen_networks,
    alerts_fired as alerts_fired,
    event_rules as event_rules,
    notify_attempts as notify_attempts,
    notify_cursors as notify_cursors,
    notify_leases as notify_leases,
    notify_outbox as notify_outbox,
    webhook_endpoints as webhook_endpoints,
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex
    Column("name", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, default=""),
    Column("protocols", Text, nullable=False),  # JSON list: webdav, sftp, scp
    Column("case_insensitive", Boolean, nullable=False, default=True),
    Column("quota_bytes", BigInteger, nullable=True),
    Column("quota_files", BigInteger, nullable=True),
    Column("used_bytes", BigInteger, nullable=False, default=0),
    Column("used_files", BigInteger, nullable=False, default=0),
    Column("settings", Text, nullable=False, default="{}"),  # JSON, extended by policy
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTC_TIME, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False, default="human"),  # human | machine
    Column("password_hash", Text, nullable=True),
    Column("permissions", Text, nullable=False),  # JSON list of {prefix, perms}
    Column("quota_bytes", BigInteger, nullable=True),
    Column("quota_files", BigInteger, nullable=True),
    Column("used_bytes", BigInteger, nullable=False, default=0),
    Column("used_files", BigInteger, nullable=False, default=0),
    Column("settings", Text, nullable=False, default="{}"),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("expires_at", UTC_TIME, nullable=True),
    Column("created_at", UTC_TIME, nullable=False),
    # the identity source's stable id of the person (LDAP entryUUID / objectGUID, else DN)
    Column("directory_id", String(255), nullable=True),
    UniqueConstraint("tenant_id", "name"),
    UniqueConstraint("tenant_id", "directory_id"),
)

tenant_keys = Table(
    "tenant_keys",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"),
           primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=True),  # NULL once destroyed
    Column("master_key_id", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # active | retired | destroyed
    Column("created_at", UTC_TIME, nullable=False),
)

blobs = Table(
    "blobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("size", BigInteger, nullable=False),  # plaintext bytes
    Column("stored_size", BigInteger, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
    # ciphertext of a small blob kept in the catalog instead of the blob store (NULL: in store)
    Column("inline_data", LargeBinary, nullable=True),
    # HMAC-SHA256 of the content under the tenant's content-MAC key (gateway/contentmac.py);
    # NULL until computed for a blob stored before migration 0004
    Column("content_mac", String(64), nullable=True),
    # the named blob store holding it (gateway/backends/stores.py; migration 0012)
    Column("store", String(64), nullable=False, server_default="default"),
    Index(None, "tenant_id", "key_version"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", BigInteger().with_variant(Integer, "sqlite"), nullable=True),
    Column("name", String(255), nullable=False),
    Column("name_key", String(255), nullable=False),
    Column("kind", String(4), nullable=False),  # dir | file
    Column("size", BigInteger, nullable=False, default=0),
    Column("blob_id", String(32), ForeignKey("blobs.id"), nullable=True),
    Column("etag", String(64), nullable=False),
    Column("owner_id", String(32), nullable=True),  # user whose quota the bytes count against
    Column("mtime", UTC_TIME, nullable=False),
    Column("ctime", UTC_TIME, nullable=False),
    Column("content_mac", String(64), nullable=True),  # copy of its blob's (listings, audit)
    UniqueConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "parent_id", "name_key"),
    ForeignKeyConstraint(
        ["tenant_id", "parent_id"], ["nodes.tenant_id", "nodes.id"], ondelete="CASCADE"
    ),
    Index(None, "blob_id"),
    Index(None, "tenant_id", "owner_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("chain", String(32), nullable=False),  # tenant id, or "-" for events of no tenant
    Column("seq", BigInteger, nullable=False),
    Column("ts", UTC_TIME, nullable=False),
    Column("tenant", String(64), nullable=True),
    Column("user", String(128), nullable=True),
    Column("protocol", String(16), nullable=False),
    Column("remote_addr", String(64), nullable=True),
    Column("session_id", String(32), nullable=True),
    Column("action", String(32), nullable=False),
    Column("path", Text, nullable=True),
    Column("dest_path", Text, nullable=True),
    Column("bytes", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("result", String(16), nullable=False),  # ok | denied | miss | error
    Column("reason", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # audit v2 (gateway/auditv2): 1 = plain SHA-256 chain, 2 = HMAC chain with commitments
    Column("format", SmallInteger, nullable=False, server_default="1"),
    Column("commitments", Text, nullable=True),  # JSON: personal field -> H(salt || value)
    Column("salts", Text, nullable=True),  # JSON: personal field -> salt; erased: gone
    UniqueConstraint("chain", "seq"),
    Index(None, "tenant", "ts"),
    Index(None, "ts"),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("chain", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("v1_seq", BigInteger, nullable=True),  # last v1 event (a chain from before v2)
    Column("v1_seal", String(64), nullable=True),  # HMAC over the v1 head, once verified
)

dav_locks = Table(
    "dav_locks",
    metadata,
    Column("token", String(128), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("root", Text, nullable=False),  # locked path, normalised
    Column("depth", String(8), nullable=False),  # 0 | infinity
    Column("scope", String(16), nullable=False),  # exclusive | shared
    Column("type", String(16), nullable=False, default="write"),
    Column("owner", Text, nullable=True),  # lock owner XML as sent by the client
    Column("principal", String(128), nullable=True),
    Column("timeout_s", Integer, nullable=False),
    Column("expires_at", UTC_TIME, nullable=False),
    Index(None, "tenant_id", "root"),
)

dav_props = Table(
    "dav_props",
    metadata,
    Column("tenant_id", String(32), nullable=False),
    Column("node_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("name", String(512), nullable=False),  # "{namespace}localname"
    Column("value", Text, nullable=False),  # XML
    ForeignKeyConstraint(["tenant_id", "node_id"], ["nodes.tenant_id", "nodes.id"],
                         ondelete="CASCADE"),
    UniqueConstraint("tenant_id", "node_id", "name"),
)

# --- identity and policy (gateway/policy, migration 0002) ----------------------------------
# Tenant and user policy settings live in the JSON ``settings`` columns (key "policy").

ssh_keys = Table(
    "ssh_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA256:base64, as OpenSSH prints it
    Column("key_type", String(64), nullable=False),
    Column("key_data", Text, nullable=False),  # base64 public key blob
    Column("comment", String(200), nullable=False, default=""),
    Column("networks", Text, nullable=False, default="[]"),  # JSON CIDR list; [] = user's
    Column("expires_at", UTC_TIME, nullable=True),
    Column("created_at", UTC_TIME, nullable=False),
    Column("last_used_at", UTC_TIME, nullable=True),
    UniqueConstraint("user_id", "fingerprint"),
)

app_passwords = Table(
    "app_passwords",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(100), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),  # HMAC-SHA256 hex (server secret)
    Column("read_only", Boolean, nullable=False, default=False),
    Column("prefix", Text, nullable=False, default="/"),
    Column("networks", Text, nullable=False, default="[]"),
    Column("expires_at", UTC_TIME, nullable=True),
    Column("created_at", UTC_TIME, nullable=False),
    Column("last_used_at", UTC_TIME, nullable=True),
    Column("revoked_at", UTC_TIME, nullable=True),
    Index(None, "user_id"),
)

totp_secrets = Table(
    "totp_secrets",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("secret_enc", LargeBinary, nullable=False),  # AES-GCM under the tenant key
    Column("key_version", Integer, nullable=False),
    Column("confirmed_at", UTC_TIME, nullable=True),  # enforced only once confirmed
    Column("last_step", BigInteger, nullable=False, default=0),  # replay guard
    Column("created_at", UTC_TIME, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False),  # HMAC-SHA256 hex (server secret)
    Column("used_at", UTC_TIME, nullable=True),
    Index(None, "user_id"),
)

auth_failures = Table(
    "auth_failures",
    metadata,
    Column("key", String(200), primary_key=True),  # "addr:IP" | "acct:TENANT/USER"
    Column("score", Float, nullable=False, default=0.0),
    Column("updated_at", UTC_TIME, nullable=False),
    Column("banned_until", UTC_TIME, nullable=True),
    Column("ban_count", Integer, nullable=False, default=0),
)

catalog_meta = Table(
    "catalog_meta",  # facts about the catalog itself, e.g. the id of its master key
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("remote_addr", String(64), nullable=False),
    Column("node", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTC_TIME, nullable=False),
    Index(None, "tenant_id", "user_id"),
)

gateway_nodes = Table(
    "gateway_nodes",  # each node's heartbeat (gateway/heartbeat.py; migration 0013)
    metadata,
    Column("name", String(128), primary_key=True),  # [gateway] node_name (auth_sessions.node)
    Column("pid", Integer, nullable=False),  # serve's supervisor
    Column("started_at", UTC_TIME, nullable=False),  # of that supervisor
    Column("last_seen", UTC_TIME, nullable=False),  # catalog time of the last heartbeat
)

store_releases = Table(
    "store_releases",  # old copies of moved blobs, deleted after the move committed
    metadata,
    Column("store", String(64), primary_key=True),
    Column("blob_id", String(32), primary_key=True),
    Column("queued_at", UTC_TIME, nullable=False),
)
