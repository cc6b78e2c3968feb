"""Administration of policy settings (used by the CLI and tests), and ``explain``.

Every change is validated (a user setting can only narrow the tenant's) and audited
(action ``policy-set``, the names of the changed settings only, never a value of a secret).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from gateway import actor
from gateway.audit import AuditEvent
from gateway.catalog.tables import users
from gateway.core import Core
from gateway.errors import ConfigError, NotFound
from gateway.policy.decision import (
    F_APP,
    F_KEY,
    F_PASSWORD,
    F_TOTP,
    Decision,
    Factor,
    Verdict,
    decide,
)
from gateway.policy.logins import canonical_name
from gateway.policy.model import (
    APP_PASSWORD,
    KBDINT,
    PASSWORD,
    PUBLICKEY,
    LdapSettings,
    TenantPolicy,
    UserPolicy,
    load_tenant_policy,
    save_tenant_policy,
    save_user_policy,
    to_dict,
    user_policy_from_settings,
    validate_tenant,
    validate_user,
)
from gateway.policy.sealing import seal_text

TENANT_KEYS = ("methods", "identity", "second_factor", "grace_until", "networks",
               "max_sessions", "max_sessions_per_user")
USER_KEYS = ("protocols", "methods", "networks", "max_sessions", "second_factor")


def _event(core: Core, conn, tenant_id: str, tenant: str, reason: str, path: str | None = None,  # type: ignore[no-untyped-def]
           ) -> None:
    who = actor.current()
    core.audit.append(conn, [AuditEvent(action="policy-set", protocol=who.protocol,
                                        chain=tenant_id, tenant=tenant, user=who.user,
                                        remote_addr=who.remote_addr, path=path, reason=reason)])


def get_tenant_policy(core: Core, tenant: str) -> TenantPolicy:
    with core.catalog.read() as conn:
        return load_tenant_policy(conn, tenant)[2]


def set_tenant_policy(core: Core, tenant: str, **changes: Any) -> TenantPolicy:
    """Change tenant settings (None values are ignored). ``grace`` = a timedelta from now."""
    grace = changes.pop("grace", None)
    if grace is not None:
        changes["grace_until"] = (datetime.now(UTC) + grace).isoformat(timespec="seconds") \
            if grace > timedelta(0) else ""
    unknown = set(changes) - set(TENANT_KEYS)
    if unknown:
        raise ConfigError(f"unknown tenant policy setting(s): {', '.join(sorted(unknown))}")
    with core.catalog.write() as conn:
        tid, _, policy = load_tenant_policy(conn, tenant)
        values = {k: v for k, v in changes.items() if v is not None}
        if values.get("grace_until") == "":
            values["grace_until"] = None
        for limit in ("max_sessions", "max_sessions_per_user"):
            if values.get(limit) == 0:
                values[limit] = None  # 0 removes the limit
        if "methods" in values:
            values["methods"] = {**policy.methods, **values["methods"]}
        new = validate_tenant(replace(policy, **values))
        save_tenant_policy(conn, tid, new)
        _event(core, conn, tid, tenant, "tenant policy: " + ", ".join(sorted(values)))
    return new


def set_ldap(core: Core, tenant: str, *, bind_password: str | None = None,
             **settings: Any) -> LdapSettings:
    """Configure the tenant's directory; the service password is sealed under the tenant key."""
    with core.catalog.write() as conn:
        tid, _, policy = load_tenant_policy(conn, tenant)
        current = policy.ldap or LdapSettings()
        values = {k: v for k, v in settings.items() if v is not None}
        bad = set(values) - set(LdapSettings.__dataclass_fields__)
        if bad:
            raise ConfigError(f"unknown LDAP setting(s): {', '.join(sorted(bad))}")
        new = replace(current, **values)
        if bind_password is not None:
            new = replace(new, bind_password_sealed=seal_text(core, tid, "ldap-bind", tid,
                                                              bind_password))
        for url in new.urls:
            if not url.lower().startswith(("ldap://", "ldaps://")):
                raise ConfigError(f"{url!r}: LDAP URLs start with ldap:// (StartTLS) or ldaps://")
        save_tenant_policy(conn, tid, replace(policy, ldap=new))
        _event(core, conn, tid, tenant, "ldap: " + ", ".join(
            sorted(list(values) + (["bind_password"] if bind_password is not None else []))))
    return new


def _user_row(conn, tenant_id: str, name: str):  # type: ignore[no-untyped-def]
    name = canonical_name(name) or name
    row = conn.execute(select(users.c.id, users.c.settings).where(
        users.c.tenant_id == tenant_id, users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user {name}: see `lumanox-gateway user list`")
    return row


def get_user_policy(core: Core, tenant: str, name: str) -> UserPolicy:
    with core.catalog.read() as conn:
        tid, _, _ = load_tenant_policy(conn, tenant)
        return user_policy_from_settings(_user_row(conn, tid, name).settings)


def set_user_policy(core: Core, tenant: str, name: str, **changes: Any) -> UserPolicy:
    """Narrow one user's settings (None values are ignored; [] / 0 / "inherit" reset)."""
    unknown = set(changes) - set(USER_KEYS)
    if unknown:
        raise ConfigError(f"unknown user policy setting(s): {', '.join(sorted(unknown))}")
    with core.catalog.write() as conn:
        tid, protocols, tpolicy = load_tenant_policy(conn, tenant)
        row = _user_row(conn, tid, name)
        policy = user_policy_from_settings(row.settings)
        values = {k: v for k, v in changes.items() if v is not None}
        if values.get("max_sessions") == 0:
            values["max_sessions"] = None
        if values.get("protocols") == []:
            values["protocols"] = None
        new = validate_user(replace(policy, **values), tpolicy, protocols)
        save_user_policy(conn, row.id, new)
        _event(core, conn, tid, tenant, "user policy: " + ", ".join(sorted(values)), path=name)
    return new


def show(core: Core, tenant: str) -> dict[str, Any]:
    """The tenant policy as plain data (the sealed LDAP password shown as set/unset)."""
    d = to_dict(get_tenant_policy(core, tenant))
    if d.get("ldap"):
        d["ldap"]["bind_password_sealed"] = "set" if d["ldap"]["bind_password_sealed"] else ""
    return d


def summary_lines(core: Core, tenant: str) -> list[str]:
    """A short human summary for ``tenant show``."""
    p = get_tenant_policy(core, tenant)
    lines = ["policy:"]
    lines += [f"  methods {proto}: {', '.join(ms) or 'none'}" for proto, ms in
              sorted(p.methods.items())]
    lines.append(f"  identity: {p.identity}"
                 + (f" ({', '.join(p.ldap.urls)}; base {p.ldap.base_dn})" if p.ldap else ""))
    lines.append(f"  second factor: {p.second_factor}"
                 + (f" (grace until {p.grace_until})" if p.grace_until else ""))
    lines.append(f"  networks: {', '.join(p.networks) or 'any'}")
    lines.append(f"  sessions: tenant {p.max_sessions or 'unlimited'}, per user "
                 f"{p.max_sessions_per_user or 'unlimited'}")
    return lines


# --- explain ------------------------------------------------------------------------------
_HYPOTHESES = {
    PUBLICKEY: [(Factor(F_KEY, PUBLICKEY),), (Factor(F_KEY, PUBLICKEY), Factor(F_TOTP, KBDINT))],
    PASSWORD: [(Factor(F_PASSWORD, PASSWORD),)],
    KBDINT: [(Factor(F_PASSWORD, KBDINT),), (Factor(F_PASSWORD, KBDINT), Factor(F_TOTP, KBDINT))],
    APP_PASSWORD: [(Factor(F_APP, APP_PASSWORD),)],
}


def explain(core: Core, login: str, protocol: str, remote_addr: str,
            method: str | None = None) -> list[tuple[str, Decision]]:
    """Decisions for the attempt, assuming the credentials of ``method`` are valid (and, for
    SSH, with a valid TOTP code after them). No credential is checked, nothing recorded."""
    from gateway.policy.gate import Gate
    from gateway.policy.logins import split_login

    names = split_login(login)
    gate = Gate(core)
    facts = gate.load(protocol, names[1], names[0], remote_addr).facts
    out: list[tuple[str, Decision]] = [("before any credential", decide(facts, ()))]
    if method is not None:
        if method not in _HYPOTHESES:
            raise ConfigError(f"method must be one of {', '.join(_HYPOTHESES)}")
        for factors in _HYPOTHESES[method]:
            d = decide(facts, factors)
            label = " + ".join(f"{f.kind} via {f.method}" for f in factors)
            out.append((f"with {label} (valid)", d))
            if d.verdict is not Verdict.CONTINUE:
                break
    return out


def explain_text(results: list[tuple[str, Decision]]) -> str:
    return "\n".join(f"{label}:\n{d.explain()}" for label, d in results)


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
