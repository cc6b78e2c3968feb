"""SSH public keys of users: add/list/remove, each with optional networks and expiry.

Keys are stored as their public blob (base64) and OpenSSH SHA256 fingerprint. A login
matches the presented key by fingerprint within the user's keys only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from gateway.catalog.tables import ssh_keys
from gateway.core import Core
from gateway.errors import AlreadyExists, ConfigError, NotFound
from gateway.policy.networks import parse_networks
from gateway.policy.records import user_ids

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "ssh-rsa", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


@dataclass(frozen=True)
class ParsedKey:
    key_type: str
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"


@dataclass(frozen=True)
class SshKey:
    id: str
    fingerprint: str
    key_type: str
    comment: str
    networks: list[str]
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None


def parse_public_key(line: str) -> ParsedKey:
    """An OpenSSH public key line (``type base64 [comment]``); options are refused."""
    parts = line.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ConfigError("not an OpenSSH public key line (expected e.g. 'ssh-ed25519 AAAA...')")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        inner = blob[4:4 + n].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise ConfigError("the public key's base64 data is damaged") from None
    if inner != parts[0]:
        raise ConfigError("the key type does not match the key data")
    return ParsedKey(parts[0], blob, parts[2] if len(parts) > 2 else "")


def _row(r) -> SshKey:  # type: ignore[no-untyped-def]
    return SshKey(r.id, r.fingerprint, r.key_type, r.comment, json.loads(r.networks),
                  r.expires_at, r.created_at, r.last_used_at)


def add_key(core: Core, tenant_name: str, user_name: str, line: str, *,
            networks: list[str] | None = None, expires_at: datetime | None = None,
            comment: str | None = None) -> SshKey:
    tid, uid = user_ids(core, tenant_name, user_name)
    key = parse_public_key(line)
    nets = parse_networks(networks or [])
    with core.catalog.write() as conn:
        if conn.execute(select(ssh_keys.c.id).where(
                ssh_keys.c.user_id == uid, ssh_keys.c.fingerprint == key.fingerprint)).first():
            raise AlreadyExists(f"{user_name}@{tenant_name} has key {key.fingerprint} already")
        kid = uuid.uuid4().hex
        conn.execute(ssh_keys.insert().values(
            id=kid, tenant_id=tid, user_id=uid, fingerprint=key.fingerprint,
            key_type=key.key_type, key_data=base64.b64encode(key.blob).decode(),
            comment=(comment if comment is not None else key.comment)[:200],
            networks=json.dumps(nets), expires_at=expires_at, created_at=datetime.now(UTC)))
        row = conn.execute(select(ssh_keys).where(ssh_keys.c.id == kid)).one()
    return _row(row)


def list_keys(core: Core, tenant_name: str, user_name: str) -> list[SshKey]:
    _, uid = user_ids(core, tenant_name, user_name)
    with core.catalog.read() as conn:
        return [_row(r) for r in conn.execute(
            select(ssh_keys).where(ssh_keys.c.user_id == uid).order_by(ssh_keys.c.created_at))]


def remove_key(core: Core, tenant_name: str, user_name: str, fingerprint: str) -> None:
    _, uid = user_ids(core, tenant_name, user_name)
    fp = fingerprint if fingerprint.startswith("SHA256:") else f"SHA256:{fingerprint}"
    with core.catalog.write() as conn:
        n = conn.execute(delete(ssh_keys).where(ssh_keys.c.user_id == uid,
                                                ssh_keys.c.fingerprint == fp)).rowcount
    if not n:
        raise NotFound(f"{user_name}@{tenant_name} has no key {fp}: see `key list`")


def find_key(core: Core, user_id: str, line: str) -> SshKey | None:
    """The user's stored key equal to the presented one (None if unknown or unparsable)."""
    try:
        key = parse_public_key(line)
    except ConfigError:
        return None
    with core.catalog.read() as conn:
        row = conn.execute(select(ssh_keys).where(
            ssh_keys.c.user_id == user_id, ssh_keys.c.fingerprint == key.fingerprint)).first()
    if row is None or base64.b64decode(row.key_data) != key.blob:
        return None
    return _row(row)


def touch(core: Core, key: SshKey) -> None:
    """Record a use (at most every 5 minutes: not a catalog write per login)."""
    now = datetime.now(UTC)
    last = key.last_used_at
    if last is not None and now - (last if last.tzinfo else last.replace(tzinfo=UTC)) \
            < timedelta(minutes=5):
        return
    with core.catalog.write() as conn:
        conn.execute(update(ssh_keys).where(ssh_keys.c.id == key.id).values(last_used_at=now))
