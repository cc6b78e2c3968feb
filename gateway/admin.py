"""Tenant and user administration (used by the CLI and by tests).

Each function runs its own transaction and returns plain data. Errors are ``GatewayError``
subclasses whose message names the problem and the fix.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update

from gateway import actor
from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.backends.stores import placement_of
from gateway.catalog import namespace as ns, retention_policy
from gateway.catalog.tables import blobs, nodes, tenant_keys, tenants, users
from gateway.core import Core
from gateway.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConfigError,
    Conflict,
    LegalHold,
    NotFound,
)
from gateway.names import name_key
from gateway.policy.logins import canonical_name
from gateway.policy.passwords import hash_password, verify_password
from gateway.principal import DEFAULT_RULES, Principal, parse_rules, rules_to_json

PROTOCOLS = ("webdav", "sftp", "scp")


class ConflictingNames(Conflict):
    """A change of case sensitivity would make two names in one folder equal."""
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
USER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    display_name: str
    protocols: list[str]
    case_insensitive: bool
    quota_bytes: int | None
    quota_files: int | None
    used_bytes: int
    used_files: int
    disabled: bool
    created_at: datetime
    settings: dict[str, Any]


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str
    name: str
    kind: str
    permissions: str
    quota_bytes: int | None
    quota_files: int | None
    used_bytes: int
    used_files: int
    disabled: bool
    expires_at: datetime | None
    created_at: datetime
    has_password: bool


def _tenant(row) -> Tenant:  # type: ignore[no-untyped-def]
    return Tenant(row.id, row.name, row.display_name, json.loads(row.protocols),
                  bool(row.case_insensitive), row.quota_bytes, row.quota_files, row.used_bytes,
                  row.used_files, bool(row.disabled), row.created_at, json.loads(row.settings))


def _user(row) -> User:  # type: ignore[no-untyped-def]
    return User(row.id, row.tenant_id, row.name, row.kind, row.permissions, row.quota_bytes,
                row.quota_files, row.used_bytes, row.used_files, bool(row.disabled),
                row.expires_at, row.created_at, row.password_hash is not None)


def check_protocols(protocols: list[str]) -> list[str]:
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad:
        raise ConfigError(f"unknown protocol(s) {', '.join(bad)}; choose from "
                          f"{', '.join(PROTOCOLS)}")
    return sorted(set(protocols))


# --- tenants -----------------------------------------------------------------------------
def create_tenant(core: Core, name: str, *, display_name: str = "",
                  protocols: list[str] | None = None, case_insensitive: bool = True,
                  quota_bytes: int | None = None, quota_files: int | None = None) -> Tenant:
    if not TENANT_NAME.match(name):
        raise ConfigError(f"tenant name {name!r}: use 1-63 lowercase letters, digits and '-'")
    protos = check_protocols(list(PROTOCOLS) if protocols is None else protocols)
    tid = uuid.uuid4().hex
    with core.catalog.write() as conn:
        if conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first():
            raise AlreadyExists(f"tenant {name!r} already exists")
        conn.execute(tenants.insert().values(
            id=tid, name=name, display_name=display_name or name, protocols=json.dumps(protos),
            case_insensitive=case_insensitive, quota_bytes=quota_bytes, quota_files=quota_files,
            used_bytes=0, used_files=0, settings="{}", disabled=False,
            created_at=datetime.now(UTC)))
        ns.create_root(conn, tid)
        core.keyring.create_tenant_key(conn, tid)
        _admin_event(core, conn, tid, name, "tenant-create")
    return get_tenant(core, name)


def _admin_event(core: Core, conn, tenant_id: str, tenant_name: str, action: str,  # type: ignore[no-untyped-def]
                 path: str | None = None, reason: str | None = None) -> None:
    who = actor.current()
    ev = AuditEvent(action=action, protocol=who.protocol, chain=tenant_id, tenant=tenant_name,
                    user=who.user, remote_addr=who.remote_addr, path=path, reason=reason)
    core.audit.append(conn, [ev])


def record_admin_action(core: Core, action: str, *, tenant: str | None = None,
                        path: str | None = None, reason: str | None = None) -> None:
    """Audit an administrative action done outside a tenant transaction (CLI commands such
    as ``gc``, key rotation, SSH key or TOTP changes). Stored at once, in the tenant's
    chain (or the ``-`` chain for node-wide actions). Never pass a secret."""
    chain, name = NO_TENANT_CHAIN, None
    if tenant is not None:
        with core.catalog.read() as conn:
            chain = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)
                                 ).scalar() or NO_TENANT_CHAIN
        name = tenant
    who = actor.current()
    core.audit.write_now([AuditEvent(action=action, protocol=who.protocol, chain=chain,
                                     tenant=name, user=who.user, remote_addr=who.remote_addr,
                                     path=path, reason=reason)])


def get_tenant(core: Core, name: str) -> Tenant:
    with core.catalog.read() as conn:
        row = conn.execute(select(tenants).where(tenants.c.name == name)).first()
    if row is None:
        raise NotFound(f"no tenant {name!r}: see `lumanox-gateway tenant list`")
    return _tenant(row)


def list_tenants(core: Core) -> list[Tenant]:
    with core.catalog.read() as conn:
        return [_tenant(r) for r in conn.execute(select(tenants).order_by(tenants.c.name))]


def set_tenant(core: Core, name: str, **changes: Any) -> Tenant:
    t = get_tenant(core, name)
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key == "protocols":
            values["protocols"] = json.dumps(check_protocols(value))
        elif key in ("quota_bytes", "quota_files"):
            values[key] = None if value < 0 else value  # -1 removes the quota
        elif key in ("case_insensitive", "disabled", "display_name"):
            values[key] = value
        else:
            raise ConfigError(f"unknown tenant setting {key!r}")
    if values.get("case_insensitive") == t.case_insensitive:
        del values["case_insensitive"]
    if values:
        with core.catalog.write() as conn:
            conn.execute(update(tenants).where(tenants.c.id == t.id).values(**values))
            if "case_insensitive" in values:
                _rekey_names(conn, t.id, values["case_insensitive"])
            _admin_event(core, conn, t.id, t.name, "tenant-set",
                         reason=", ".join(sorted(values)))
    return get_tenant(core, name)


def _rekey_names(conn, tenant_id: str, case_insensitive: bool) -> None:  # type: ignore[no-untyped-def]
    """Recompute every name's comparison key after a change of case sensitivity.

    Refuses (and so rolls the whole change back) when two names in one folder would
    collide, naming them, so the admin can rename one first.
    """
    seen: dict[tuple[int | None, str], str] = {}
    rows = conn.execute(select(nodes.c.id, nodes.c.parent_id, nodes.c.name)
                        .where(nodes.c.tenant_id == tenant_id)).all()
    for row in rows:
        key = name_key(row.name, case_insensitive)
        other = seen.setdefault((row.parent_id, key), row.name)
        if other != row.name:
            path = ns.path_of(conn, tenant_id, row.id)
            raise ConflictingNames(
                f"cannot make names case-insensitive: {path} and {other!r} in the same folder "
                "differ only in case; rename one of them first")
    # two passes through a temporary key so the unique index never sees a transient clash
    for row in rows:
        conn.execute(update(nodes).where(nodes.c.id == row.id)
                     .values(name_key=f"/{row.id}"))  # "/" is never part of a name
    for row in rows:
        conn.execute(update(nodes).where(nodes.c.id == row.id)
                     .values(name_key=name_key(row.name, case_insensitive)))


def purge_tenant(core: Core, name: str) -> int:
    """Crypto-shred and delete a tenant: keys destroyed first, then rows and blobs.

    Returns the number of blobs deleted. Once the keys are destroyed (first transaction)
    every blob of the tenant is unreadable, even if deleting files is interrupted.
    """
    t = get_tenant(core, name)
    try:
        with core.catalog.write() as conn:
            hold = next(iter(retention_policy.holds_of(conn, t.id)), None)
            if hold is not None:  # a legal hold forbids every deletion (gateway/compliance)
                raise LegalHold(retention_policy.hold_message(f"tenant {t.name}", hold))
            core.keyring.destroy_tenant_keys(conn, t.id)
            _admin_event(core, conn, t.id, t.name, "tenant-purge")
    except LegalHold as exc:
        core.audit.write_now([AuditEvent(action="tenant-purge", protocol="admin", chain=t.id,
                                         tenant=t.name, user="admin", result="denied",
                                         reason=f"{exc.reason}: {exc}")])
        raise
    with core.catalog.read() as conn:
        rows = conn.execute(select(blobs.c.id, blobs.c.inline_data.is_(None)).where(
            blobs.c.tenant_id == t.id)).all()
    with core.catalog.write() as conn:
        conn.execute(update(nodes).where(nodes.c.tenant_id == t.id).values(blob_id=None))
        conn.execute(delete(nodes).where(nodes.c.tenant_id == t.id, nodes.c.parent_id.is_not(None)))
        conn.execute(delete(nodes).where(nodes.c.tenant_id == t.id))
        conn.execute(delete(blobs).where(blobs.c.tenant_id == t.id))
        conn.execute(delete(users).where(users.c.tenant_id == t.id))
        conn.execute(delete(tenant_keys).where(tenant_keys.c.tenant_id == t.id))
        conn.execute(delete(tenants).where(tenants.c.id == t.id))
    core.root_ids.pop(t.id, None)
    for blob_id, in_store in rows:
        if in_store:
            core.store.delete(blob_id)
    return len(rows)


# --- users --------------------------------------------------------------------------------
def user_key(name: str) -> str:
    """The canonical form of an account name as stored and looked up (case-folded)."""
    canon = canonical_name(name)
    if canon is None:
        raise ConfigError(f"user name {name!r}: no spaces, control characters or '@'")
    return canon


def create_user(core: Core, tenant_name: str, name: str, *, password: str | None = None,
                kind: str = "human", permissions: str | None = None,
                quota_bytes: int | None = None, quota_files: int | None = None) -> User:
    t = get_tenant(core, tenant_name)
    if not USER_NAME.match(name):
        raise ConfigError(f"user name {name!r}: use letters, digits, '.', '_' and '-'")
    name = user_key(name)  # one account for every spelling: stored case-folded
    if kind not in ("human", "machine"):
        raise ConfigError("user kind must be human or machine")
    rules = rules_to_json(parse_rules(permissions) if permissions else DEFAULT_RULES)
    uid = uuid.uuid4().hex
    with core.catalog.write() as conn:
        if conn.execute(select(users.c.id).where(users.c.tenant_id == t.id,
                                                 users.c.name == name)).first():
            raise AlreadyExists(f"user {name}@{tenant_name} already exists")
        conn.execute(users.insert().values(
            id=uid, tenant_id=t.id, name=name, kind=kind,
            password_hash=hash_password(password) if password else None, permissions=rules,
            quota_bytes=quota_bytes, quota_files=quota_files, used_bytes=0, used_files=0,
            settings="{}", disabled=False, created_at=datetime.now(UTC)))
        _admin_event(core, conn, t.id, t.name, "user-create", path=name)
    return get_user(core, tenant_name, name)


def get_user(core: Core, tenant_name: str, name: str) -> User:
    t = get_tenant(core, tenant_name)
    name = canonical_name(name) or name
    with core.catalog.read() as conn:
        row = conn.execute(select(users).where(users.c.tenant_id == t.id,
                                               users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user {name}@{tenant_name}: see `lumanox-gateway user list "
                       f"{tenant_name}`")
    return _user(row)


def list_users(core: Core, tenant_name: str | None = None) -> list[User]:
    """The users of one tenant, or of every tenant (ordered by tenant id, then name)."""
    q = select(users).order_by(users.c.tenant_id, users.c.name)
    if tenant_name is not None:
        q = q.where(users.c.tenant_id == get_tenant(core, tenant_name).id)
    with core.catalog.read() as conn:
        return [_user(r) for r in conn.execute(q)]


def set_user(core: Core, tenant_name: str, name: str, **changes: Any) -> User:
    u = get_user(core, tenant_name, name)
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key == "permissions":
            values[key] = rules_to_json(parse_rules(value))
        elif key in ("quota_bytes", "quota_files"):
            values[key] = None if value < 0 else value
        elif key == "password":
            values["password_hash"] = hash_password(value)
        elif key in ("disabled", "kind", "expires_at"):
            values[key] = value
        else:
            raise ConfigError(f"unknown user setting {key!r}")
    if values:
        with core.catalog.write() as conn:
            conn.execute(update(users).where(users.c.id == u.id).values(**values))
            reason = ", ".join(sorted("password" if k == "password_hash" else k for k in values))
            _admin_event(core, conn, u.tenant_id, tenant_name, "user-set", path=name,
                         reason=reason)
    return get_user(core, tenant_name, name)


def delete_user(core: Core, tenant_name: str, name: str) -> None:
    u = get_user(core, tenant_name, name)
    with core.catalog.write() as conn:
        conn.execute(update(nodes).where(nodes.c.owner_id == u.id).values(owner_id=None))
        conn.execute(delete(users).where(users.c.id == u.id))
        _admin_event(core, conn, u.tenant_id, tenant_name, "user-delete", path=name)


def principal_for(core: Core, tenant_name: str, name: str, *, auth_method: str = "") -> Principal:
    """The principal of an existing, enabled user (no credential check: admin/CLI use)."""
    t = get_tenant(core, tenant_name)
    u = get_user(core, tenant_name, name)
    if t.disabled or u.disabled:
        raise AuthenticationFailed("account or tenant disabled")
    return Principal(t.id, t.name, u.id, u.name, u.kind, t.case_insensitive,
                     parse_rules(u.permissions), auth_method=auth_method,
                     placement=placement_of(t.settings))


def check_password(core: Core, tenant_name: str, name: str, password: str) -> Principal:
    """Local password login. Raises AuthenticationFailed with an audit-only detail."""
    name = canonical_name(name) or name
    with core.catalog.read() as conn:
        row = conn.execute(
            select(users.c.password_hash, users.c.disabled, tenants.c.disabled.label("tdis"))
            .select_from(users.join(tenants, users.c.tenant_id == tenants.c.id))
            .where(tenants.c.name == tenant_name, users.c.name == name)).first()
    ok = verify_password(row.password_hash if row else None, password)
    if row is None:
        raise AuthenticationFailed("unknown user")
    if not ok:
        raise AuthenticationFailed("wrong password")
    if row.disabled or row.tdis:
        raise AuthenticationFailed("account or tenant disabled")
    return principal_for(core, tenant_name, name, auth_method="password")
