"""App passwords: per-device secrets for WebDAV clients that cannot answer a TOTP prompt.

Created by the user after a TOTP-verified step (the CLI asks for a current code when the
user has TOTP), shown once, stored as HMAC-SHA256 under the server secret (never the master
key). Each has a label, a scope (WebDAV only; optionally read-only and/or limited to a path
prefix, applied as ``Principal.scope_perms``/``scope_prefix``), an optional expiry and
networks, and a last-use time. Revocation takes effect on the next request (the credential
cache of the gate keeps a verified app password at most its TTL).

Format: ``lxa_`` + 32 url-safe random characters (~190 bits), so the gate can tell an app
password from an account password without a database round trip.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from gateway.catalog.tables import app_passwords
from gateway.core import Core
from gateway.errors import ConfigError, NotFound
from gateway.policy.networks import parse_networks
from gateway.policy.records import user_ids
from gateway.policy.sealing import keyed_hash

PREFIX = "lxa_"
#: last-use times are written at most this often per app password (one write per request
#: would make every WebDAV request a catalog write)
LAST_USE_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class AppPassword:
    id: str
    user_id: str
    label: str
    read_only: bool
    prefix: str
    networks: list[str]
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or _aware(self.expires_at) > now)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def looks_like(secret: str) -> bool:
    return secret.startswith(PREFIX) and len(secret) == len(PREFIX) + 32


def _digest(core: Core, secret: str) -> str:
    return keyed_hash(core, "app-password", secret)


def _row(r) -> AppPassword:  # type: ignore[no-untyped-def]
    return AppPassword(r.id, r.user_id, r.label, bool(r.read_only), r.prefix,
                       json.loads(r.networks), r.expires_at, r.created_at, r.last_used_at,
                       r.revoked_at)


def create(core: Core, tenant_name: str, user_name: str, label: str, *, read_only: bool = False,
           prefix: str = "/", networks: list[str] | None = None,
           expires_at: datetime | None = None) -> tuple[AppPassword, str]:
    """A new app password: (record, the secret — show it once, it is not stored)."""
    if not label or len(label) > 100:
        raise ConfigError("an app password needs a label of 1-100 characters")
    tid, uid = user_ids(core, tenant_name, user_name)
    secret = PREFIX + secrets.token_urlsafe(24)
    norm_prefix = "/" + "/".join(p for p in prefix.split("/") if p)
    if any(p in (".", "..") for p in norm_prefix.split("/")):
        raise ConfigError("the path prefix may not contain . or ..")
    aid = uuid.uuid4().hex
    with core.catalog.write() as conn:
        conn.execute(app_passwords.insert().values(
            id=aid, tenant_id=tid, user_id=uid, label=label, digest=_digest(core, secret),
            read_only=read_only, prefix=norm_prefix,
            networks=json.dumps(parse_networks(networks or [])), expires_at=expires_at,
            created_at=datetime.now(UTC)))
        row = conn.execute(select(app_passwords).where(app_passwords.c.id == aid)).one()
    return _row(row), secret


def list_for(core: Core, tenant_name: str, user_name: str) -> list[AppPassword]:
    _, uid = user_ids(core, tenant_name, user_name)
    with core.catalog.read() as conn:
        return [_row(r) for r in conn.execute(select(app_passwords).where(
            app_passwords.c.user_id == uid).order_by(app_passwords.c.created_at))]


def revoke(core: Core, tenant_name: str, user_name: str, ident: str) -> None:
    """Revoke by id (or unique id prefix) or label."""
    _, uid = user_ids(core, tenant_name, user_name)
    with core.catalog.write() as conn:
        rows = [r for r in conn.execute(select(app_passwords.c.id, app_passwords.c.label).where(
            app_passwords.c.user_id == uid, app_passwords.c.revoked_at.is_(None)))
            if r.id.startswith(ident) or r.label == ident]
        if len(rows) != 1:
            raise NotFound(f"{'no' if not rows else 'more than one'} active app password "
                           f"{ident!r} of {user_name}@{tenant_name}: see `app-password list`")
        conn.execute(update(app_passwords).where(app_passwords.c.id == rows[0].id)
                     .values(revoked_at=datetime.now(UTC)))


def find(core: Core, user_id: str, secret: str) -> AppPassword | None:
    """The user's app password with this secret (active or not: the decision says why not)."""
    if not looks_like(secret):
        return None
    digest = _digest(core, secret)
    with core.catalog.read() as conn:
        rows = conn.execute(select(app_passwords).where(app_passwords.c.user_id == user_id)).all()
    match = None
    for r in rows:  # compare every candidate in constant time
        if hmac.compare_digest(r.digest, digest):
            match = r
    return _row(match) if match is not None else None


def touch(core: Core, ap: AppPassword, now: datetime) -> None:
    """Record a use (rate-limited to LAST_USE_RESOLUTION)."""
    if ap.last_used_at is not None and now - _aware(ap.last_used_at) < LAST_USE_RESOLUTION:
        return
    with core.catalog.write() as conn:
        conn.execute(update(app_passwords).where(app_passwords.c.id == ap.id)
                     .values(last_used_at=now))
