"""Admin API tokens: create (secret shown once), list, revoke, and check a bearer token.

A token is ``lmx_<id>_<secret>``: the id is stored in clear (to find the row), the secret
only as HMAC-SHA256 under a key derived from the audit key (itself wrapped by the master
key), so a copy of the catalog does not give working tokens. Checking costs one row lookup
and one HMAC whether the token is unknown, malformed, expired, revoked or valid, and every
refusal is the same ``TokenRefused`` (the API answers each with the same 401).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update

from gateway.admin import get_tenant, record_admin_action
from gateway.catalog.tables import admin_tokens, tenants
from gateway.core import Core
from gateway.errors import AlreadyExists, ConfigError, GatewayError, NotFound

SCOPES = ("read", "tenants", "users", "reports", "all")
PREFIX = "lmx_"
_FORMAT = re.compile(r"^lmx_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: last-use times are written at most this often per token
LAST_USE_RESOLUTION = timedelta(minutes=5)


class TokenRefused(GatewayError):
    """Unknown, malformed, expired or revoked token (the caller never learns which)."""


@dataclass(frozen=True)
class Token:
    id: str
    name: str
    scope: str
    tenant: str | None  # tenant name; None: every tenant
    tenant_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def principal(self) -> str:
        """The name the audit trail shows for calls made with this token."""
        return f"token:{self.name}"

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _aware(self.expires_at) <= now:
            return "expired"
        return "active"


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _key(core: Core) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"lumanox admin-api tokens v1").derive(core.audit.key)


def _digest(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def _query():  # type: ignore[no-untyped-def]
    return select(admin_tokens, tenants.c.name.label("tenant_name")).outerjoin(
        tenants, tenants.c.id == admin_tokens.c.tenant_id)


def _token(row) -> Token:  # type: ignore[no-untyped-def]
    return Token(row.id, row.name, row.scope, row.tenant_name, row.tenant_id, row.created_at,
                 row.expires_at, row.revoked_at, row.last_used_at)


def create(core: Core, name: str, scope: str, *, tenant: str | None = None,
           expires_at: datetime | None = None) -> tuple[Token, str]:
    """A new token and its secret (to show once); audited as ``admin-token-create``."""
    if not _NAME.match(name):
        raise ConfigError(f"token name {name!r}: use 1-64 letters, digits, '.', '_' and '-'")
    if scope not in SCOPES:
        raise ConfigError(f"scope {scope!r}: choose one of {', '.join(SCOPES)}")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ConfigError("the expiry is in the past: give a future date or a duration (30d)")
    tenant_id = get_tenant(core, tenant).id if tenant is not None else None
    ident, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with core.catalog.write() as conn:
        if conn.execute(select(admin_tokens.c.id).where(admin_tokens.c.name == name)).first():
            raise AlreadyExists(f"an admin token named {name!r} exists: choose another name "
                                "or revoke it (`admin-token revoke ID`)")
        conn.execute(admin_tokens.insert().values(
            id=ident, name=name, scope=scope, tenant_id=tenant_id,
            digest=_digest(_key(core), secret), created_at=datetime.now(UTC),
            expires_at=expires_at))
    record_admin_action(core, "admin-token-create", tenant=tenant,
                        reason=f"{ident} {name!r} scope {scope}")
    return get(core, ident), f"{PREFIX}{ident}_{secret}"


def get(core: Core, ident: str) -> Token:
    with core.catalog.read() as conn:
        row = conn.execute(_query().where(admin_tokens.c.id == ident)).first()
    if row is None:
        raise NotFound(f"no admin token {ident!r}: see `lumanox-gateway admin-token list`")
    return _token(row)


def list_tokens(core: Core) -> list[Token]:
    """Every token (never a secret), by name."""
    with core.catalog.read() as conn:
        return [_token(r) for r in conn.execute(_query().order_by(admin_tokens.c.name))]


def revoke(core: Core, ident: str) -> Token:
    """Revoke a token by id or name; its next request is refused."""
    with core.catalog.write() as conn:
        row = conn.execute(_query().where((admin_tokens.c.id == ident)
                                          | (admin_tokens.c.name == ident))).first()
        if row is None:
            raise NotFound(f"no admin token {ident!r}: see `lumanox-gateway admin-token list`")
        if row.revoked_at is None:
            conn.execute(update(admin_tokens).where(admin_tokens.c.id == row.id)
                         .values(revoked_at=datetime.now(UTC)))
    record_admin_action(core, "admin-token-revoke", tenant=row.tenant_name,
                        reason=f"{row.id} {row.name!r}")
    return get(core, row.id)


_DUMMY_DIGEST = "0" * 64


def authenticate(core: Core, presented: str, key: bytes | None = None) -> Token:
    """The token a bearer secret belongs to, or ``TokenRefused`` (one lookup and one HMAC
    on every path, so timing does not tell unknown from revoked)."""
    m = _FORMAT.match(presented)
    ident, secret = (m.group(1), m.group(2)) if m else ("-", presented[:64])
    with core.catalog.read() as conn:
        row = conn.execute(_query().where(admin_tokens.c.id == ident)).first()
    expected = row.digest if row is not None else _DUMMY_DIGEST
    ok = hmac.compare_digest(_digest(key or _key(core), secret), expected)
    now = datetime.now(UTC)
    if row is None or not ok or _token(row).state(now) != "active":
        raise TokenRefused("invalid token")
    token = _token(row)
    if token.last_used_at is None or now - _aware(token.last_used_at) > LAST_USE_RESOLUTION:
        with core.catalog.write() as conn:
            conn.execute(update(admin_tokens).where(admin_tokens.c.id == ident)
                         .values(last_used_at=now))
    return token


def derive_key(core: Core) -> bytes:
    """The HMAC key of token secrets (the API derives it once per process)."""
    return _key(core)
