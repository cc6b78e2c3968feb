"""The policy data model: tenant settings and the per-user narrowing of them.

Stored as JSON under the key ``"policy"`` of the ``settings`` column of ``tenants`` and
``users`` (no schema change when a setting is added). A user's settings can only narrow the
tenant's: the decision function requires BOTH (intersection of methods and protocols, an
address must be in the tenant's AND the user's networks, the stricter second-factor rule,
the lower session limit), so no user value can widen anything; ``set_user_policy`` also
refuses values outside the tenant's at once, to tell the admin.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from gateway.catalog.tables import tenants, users
from gateway.errors import ConfigError, NotFound
from gateway.policy.networks import parse_networks, within

PASSWORD = "password"  # noqa: S105 - method names
PUBLICKEY = "publickey"
KBDINT = "keyboard-interactive"
APP_PASSWORD = "app-password"  # noqa: S105
METHODS = (PASSWORD, PUBLICKEY, KBDINT, APP_PASSWORD)
PROTOCOL_METHODS = {
    "webdav": (PASSWORD, APP_PASSWORD),
    "sftp": (PASSWORD, PUBLICKEY, KBDINT),
    "scp": (PASSWORD, PUBLICKEY, KBDINT),
}
IDENTITY_SOURCES = ("local", "ldap", "ldap+local")
SECOND_FACTOR = ("off", "required")


def default_methods() -> dict[str, list[str]]:
    return {p: list(m) for p, m in PROTOCOL_METHODS.items()}


@dataclass
class LdapSettings:
    """One tenant's directory (see gateway/policy/ldap.py)."""

    urls: list[str] = field(default_factory=list)  # ldap://host:389 (StartTLS) or ldaps://
    base_dn: str = ""  # users are searched under this DN only
    bind_dn: str = ""  # service account
    bind_password_sealed: str = ""  # sealed under the tenant key (policy/sealing.py)
    starttls: bool = True  # for ldap:// URLs; ldaps:// URLs use implicit TLS
    ca_file: str = ""  # CA bundle to validate the server certificate
    user_attr: str = "uid"
    user_class: str = "inetOrgPerson"
    group_base_dn: str = ""  # default: base_dn
    group_map: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # cn -> rules
    timeout_s: float = 5.0


@dataclass
class TenantPolicy:
    methods: dict[str, list[str]] = field(default_factory=default_methods)
    identity: str = "local"
    second_factor: str = "off"
    grace_until: str | None = None  # ISO time: until then, unenrolled humans may log in w/o 2FA
    networks: list[str] = field(default_factory=list)
    max_sessions: int | None = None
    max_sessions_per_user: int | None = None
    ldap: LdapSettings | None = None

    def grace_deadline(self) -> datetime | None:
        return datetime.fromisoformat(self.grace_until) if self.grace_until else None


@dataclass
class UserPolicy:
    protocols: list[str] | None = None  # None = the tenant's
    methods: dict[str, list[str]] | None = None
    networks: list[str] = field(default_factory=list)
    max_sessions: int | None = None
    second_factor: str = "inherit"  # inherit | required
    source: str = "local"  # local | ldap (provisioned at first LDAP login)


def _load(cls, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
    obj = cls(**known)
    if isinstance(obj, TenantPolicy) and isinstance(obj.ldap, dict):
        obj.ldap = _load(LdapSettings, obj.ldap)
    return obj


def tenant_policy_from_settings(settings: dict[str, Any] | str) -> TenantPolicy:
    s = json.loads(settings) if isinstance(settings, str) else settings
    return _load(TenantPolicy, s.get("policy", {}))


def user_policy_from_settings(settings: dict[str, Any] | str) -> UserPolicy:
    s = json.loads(settings) if isinstance(settings, str) else settings
    return _load(UserPolicy, s.get("policy", {}))


def to_dict(obj: TenantPolicy | UserPolicy) -> dict[str, Any]:
    return asdict(obj)


# --- validation ---------------------------------------------------------------------------
def _check_methods(methods: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for proto, ms in methods.items():
        if proto not in PROTOCOL_METHODS:
            raise ConfigError(f"unknown protocol {proto!r}; known: {', '.join(PROTOCOL_METHODS)}")
        bad = [m for m in ms if m not in PROTOCOL_METHODS[proto]]
        if bad:
            raise ConfigError(f"{proto}: method(s) {', '.join(bad)} not possible; choose from "
                              f"{', '.join(PROTOCOL_METHODS[proto])}")
        out[proto] = sorted(set(ms))
    return out


def validate_tenant(p: TenantPolicy) -> TenantPolicy:
    if p.identity not in IDENTITY_SOURCES:
        raise ConfigError(f"identity must be one of {', '.join(IDENTITY_SOURCES)}")
    if p.second_factor not in SECOND_FACTOR:
        raise ConfigError("second factor must be off or required")
    if p.identity != "local" and (p.ldap is None or not p.ldap.urls or not p.ldap.base_dn):
        raise ConfigError("identity ldap needs an LDAP server: `policy ldap TENANT --url ... "
                          "--base-dn ...` first")
    for limit in (p.max_sessions, p.max_sessions_per_user):
        if limit is not None and limit < 1:
            raise ConfigError("session limits must be 1 or more (or unset)")
    return replace(p, methods={**default_methods(), **_check_methods(p.methods)},
                   networks=parse_networks(p.networks))


def validate_user(p: UserPolicy, tenant: TenantPolicy, tenant_protocols: list[str]) -> UserPolicy:
    """Refuse a user setting that would widen the tenant's (it could never take effect)."""
    if p.protocols is not None:
        extra = set(p.protocols) - set(tenant_protocols)
        if extra:
            raise ConfigError(f"protocol(s) {', '.join(sorted(extra))} are not allowed for the "
                              "tenant: a user can only narrow")
    methods = _check_methods(p.methods) if p.methods is not None else None
    for proto, ms in (methods or {}).items():
        extra = set(ms) - set(tenant.methods.get(proto, ()))
        if extra:
            raise ConfigError(f"{proto}: method(s) {', '.join(sorted(extra))} are not allowed for "
                              "the tenant: a user can only narrow")
    nets = parse_networks(p.networks)
    outside = within(nets, tenant.networks)
    if outside:
        raise ConfigError(f"network(s) {', '.join(outside)} lie outside the tenant's networks")
    if p.second_factor not in ("inherit", "required"):
        raise ConfigError("a user's second factor is inherit or required (never off)")
    if p.max_sessions is not None and p.max_sessions < 1:
        raise ConfigError("session limits must be 1 or more (or unset)")
    return replace(p, methods=methods, networks=nets)


# --- storage ------------------------------------------------------------------------------
def load_tenant_policy(conn, tenant_name: str) -> tuple[str, list[str], TenantPolicy]:  # type: ignore[no-untyped-def]
    row = conn.execute(select(tenants.c.id, tenants.c.protocols, tenants.c.settings)
                       .where(tenants.c.name == tenant_name)).first()
    if row is None:
        raise NotFound(f"no tenant {tenant_name!r}: see `lumanox-gateway tenant list`")
    return row.id, json.loads(row.protocols), tenant_policy_from_settings(row.settings)


def save_tenant_policy(conn, tenant_id: str, policy: TenantPolicy) -> None:  # type: ignore[no-untyped-def]
    settings = json.loads(conn.execute(select(tenants.c.settings)
                                       .where(tenants.c.id == tenant_id)).scalar_one())
    settings["policy"] = to_dict(policy)
    conn.execute(update(tenants).where(tenants.c.id == tenant_id)
                 .values(settings=json.dumps(settings, sort_keys=True)))


def save_user_policy(conn, user_id: str, policy: UserPolicy) -> None:  # type: ignore[no-untyped-def]
    settings = json.loads(conn.execute(select(users.c.settings)
                                       .where(users.c.id == user_id)).scalar_one())
    settings["policy"] = to_dict(policy)
    conn.execute(update(users).where(users.c.id == user_id)
                 .values(settings=json.dumps(settings, sort_keys=True)))
