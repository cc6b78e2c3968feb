"""The facts a login decision needs, read in one transaction (``load``), and the
``Principal`` an admitted login becomes (``principal_of``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.backends.stores import placement_of
from gateway.catalog.tables import auth_failures, tenants, users
from gateway.policy import apppasswords, totp
from gateway.policy.decision import Decision, Facts, TenantFacts, UserFacts
from gateway.policy.defender import account_key, address_key
from gateway.policy.model import tenant_policy_from_settings, user_policy_from_settings
from gateway.principal import ALL_PERMISSIONS, READ_ONLY, Principal, parse_rules

if TYPE_CHECKING:
    from gateway.core import Core


def aware(t: datetime | None) -> datetime | None:
    """A catalog time as an aware UTC datetime (SQLite returns naive ones)."""
    return t if t is None or t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Loaded:
    """Facts of an attempt plus the rows they came from."""

    facts: Facts
    tenant_row: Any
    user_row: Any
    failures: bool = False  # the account has a failure score to clear after a success
    account_banned: str | None = None  # blocks account-password methods only (lockout.py)



def load(core: Core, protocol: str, tenant_name: str, user_name: str,
         remote_addr: str) -> Loaded:
    """Everything the decision needs, in one read transaction."""
    now = datetime.now(UTC)
    with core.catalog.read() as conn:
        trow = conn.execute(select(tenants).where(tenants.c.name == tenant_name)).first()
        urow = None if trow is None else conn.execute(select(users).where(
            users.c.tenant_id == trow.id, users.c.name == user_name)).first()
        enrolled = urow is not None and totp.enrolled(conn, urow.id)
        keys = [address_key(remote_addr), account_key(tenant_name, user_name)]
        bans = conn.execute(select(auth_failures.c.key, auth_failures.c.banned_until,
                                   auth_failures.c.score)
                            .where(auth_failures.c.key.in_(keys))).all()
    banned_keys = [b.key for b in bans
                   if b.banned_until is not None and aware(b.banned_until) > now]
    banned = keys[0] if keys[0] in banned_keys else None  # the address: blocks all
    account_banned = keys[1] if keys[1] in banned_keys else None
    tf = None if trow is None else TenantFacts(
        trow.id, trow.name, bool(trow.disabled), tuple(_json_list(trow.protocols)),
        tenant_policy_from_settings(trow.settings))
    uf = None if urow is None else UserFacts(
        urow.id, urow.name, urow.kind, bool(urow.disabled), aware(urow.expires_at),
        user_policy_from_settings(urow.settings), enrolled)
    failures = any(b.key == keys[1] and b.score > 0 for b in bans)
    return Loaded(Facts(protocol, remote_addr, tf, uf, now, banned), trow, urow, failures,
                  account_banned)


def principal_of(loaded: Loaded, method: str,
                 app: apppasswords.AppPassword | None = None) -> Principal:
    """The principal of an admitted login (an app password narrows its scope)."""
    t, u = loaded.tenant_row, loaded.user_row
    return Principal(
        t.id, t.name, u.id, u.name, u.kind, bool(t.case_insensitive),
        parse_rules(u.permissions),
        scope_prefix=app.prefix if app else "/",
        scope_perms=(READ_ONLY if app.read_only else ALL_PERMISSIONS) if app
        else ALL_PERMISSIONS,
        auth_method=method, placement=placement_of(t.settings))


def may_provision(pre: Decision, facts: Facts) -> bool:
    """An unknown user of an LDAP tenant may exist in the directory: check it."""
    return (facts.user is None and pre.rules[-1].name == "user"
            and facts.tenant is not None and facts.tenant.policy.identity != "local")


def _json_list(text: str) -> list[str]:
    return list(json.loads(text))
