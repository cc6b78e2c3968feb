"""Account passwords by identity source: local (argon2id), LDAP, or LDAP first then local.

* local: argon2id verify (constant time, a dummy hash for unknown users); a hash made with
  older parameters is re-hashed with the current ones after a successful login.
* ldap: the tenant's directory decides (gateway/policy/ldap.py). A user verified by LDAP
  for whom the gateway has no record is PROVISIONED on first login (kind human, settings
  ``policy.source = "ldap"``); their permissions come from the tenant's ``group_map`` at every
  login (no mapped group = refused when a group map is configured). The account is BOUND
  to the entry's stable id (``users.directory_id``: entryUUID / objectGUID / DN): a login
  whose entry is bound to an account is that account (so a disabled account stays
  disabled whatever spelling matched in the directory), and an account bound to another
  entry is refused (a reused uid is not the same person). Names are canonical
  (policy/logins.py) before they reach the directory or the catalog.
* ldap+local: LDAP first; only if the directory has no such uid, the local hash. The
  directory being unreachable refuses the login (never a fallback to a weaker check).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from gateway.catalog.tables import users
from gateway.core import Core
from gateway.policy import passwords
from gateway.policy.credcache import CredentialCache
from gateway.policy.decision import TenantFacts
from gateway.policy.ldap import LdapDirectory, LdapResult, LdapUnavailable
from gateway.policy.sealing import unseal_text
from gateway.principal import ALL_PERMISSIONS, DEFAULT_RULES, parse_rules, rules_to_json


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    reason: str  # audit-only
    source: str = ""  # local | ldap
    unavailable: bool = False  # the identity source could not answer (fail closed)
    guessable: bool = True  # counts for the defender (False: e.g. directory down)
    account: str = ""  # the account the credential belongs to, if not the login's name


def _verify_local(core: Core, user_row: Any, password: str) -> PasswordCheck:
    stored = user_row.password_hash if user_row is not None else None
    ok = passwords.verify_password(stored, password)
    if user_row is None:
        return PasswordCheck(False, "unknown user", "local")
    if not ok:
        return PasswordCheck(False, "wrong password" if stored else "no local password", "local")
    if passwords.needs_rehash(stored):
        with core.catalog.write() as conn:
            conn.execute(update(users).where(users.c.id == user_row.id,
                                             users.c.password_hash == stored)
                         .values(password_hash=passwords.hash_password(password)))
    return PasswordCheck(True, "local password ok", "local")


def ldap_rules(tenant: TenantFacts, groups: tuple[str, ...]) -> str | None:
    """Permissions JSON from group membership (None: no mapped group although a map exists)."""
    gmap = tenant.policy.ldap.group_map if tenant.policy.ldap else {}
    if not gmap:
        return rules_to_json(DEFAULT_RULES)
    merged: dict[str, set[str]] = {}
    for g in groups:
        for rule in parse_rules(gmap.get(g, [])):
            merged.setdefault(rule.prefix, set()).update(rule.perms)
    if not merged:
        return None
    return json.dumps([{"prefix": p, "perms": sorted(v & ALL_PERMISSIONS)}
                       for p, v in sorted(merged.items())])


def _provision(core: Core, tenant: TenantFacts, name: str, rules: str,
               directory_id: str) -> tuple[str, str]:
    """Create, bind or refresh the gateway record of an LDAP-verified user.

    Returns (account name, "") or ("", audit reason of a refusal)."""
    cols = (users.c.id, users.c.name, users.c.settings, users.c.permissions,
            users.c.directory_id)
    with core.catalog.write() as conn:
        bound = conn.execute(select(*cols).where(
            users.c.tenant_id == tenant.id, users.c.directory_id == directory_id)).first()
        named = conn.execute(select(*cols).where(
            users.c.tenant_id == tenant.id, users.c.name == name)).first()
        if bound is not None and named is not None and bound.id != named.id:
            return "", (f"ldap: entry {directory_id} is bound to account {bound.name!r}, "
                        f"not to {name!r}")
        row = bound or named
        if row is None:
            conn.execute(users.insert().values(
                id=uuid.uuid4().hex, tenant_id=tenant.id, name=name, kind="human",
                password_hash=None, permissions=rules, quota_bytes=None, quota_files=None,
                used_bytes=0, used_files=0,
                settings=json.dumps({"policy": {"source": "ldap"}}), disabled=False,
                created_at=datetime.now(UTC), directory_id=directory_id))
            return name, ""
        if row.directory_id is None:  # an account made before binding: bind it now
            conn.execute(update(users).where(users.c.id == row.id)
                         .values(directory_id=directory_id))
        elif row.directory_id != directory_id:
            return "", (f"ldap: account {row.name!r} is bound to another directory entry "
                        f"({row.directory_id}), not {directory_id}")
        if json.loads(row.settings).get("policy", {}).get("source") == "ldap" \
                and row.permissions != rules:
            conn.execute(update(users).where(users.c.id == row.id).values(permissions=rules))
        return row.name, ""


class Identity:
    """Verifies account passwords for the gate (one per Gate)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        pol = getattr(core.config, "policy", None)
        self.ldap_cache: CredentialCache[LdapResult] = CredentialCache(
            getattr(pol, "ldap_cache_ttl_s", 0), 10000)

    def directory(self, tenant: TenantFacts) -> LdapDirectory:
        s = tenant.policy.ldap
        assert s is not None
        pw = unseal_text(self.core, tenant.id, "ldap-bind", tenant.id,
                         s.bind_password_sealed) if s.bind_password_sealed else ""
        return LdapDirectory(s, pw)

    def _ldap(self, tenant: TenantFacts, name: str, password: str) -> LdapResult:
        hit = self.ldap_cache.get(tenant.name, name, password, kind="ldap")
        if hit is not None:
            return hit
        res = self.directory(tenant).authenticate(name, password)
        if res.ok:
            self.ldap_cache.put(tenant.name, name, password, res, kind="ldap")
        return res

    def check(self, tenant: TenantFacts, name: str, user_row: Any, password: str) -> PasswordCheck:
        """Verify USER's account password by the tenant's identity source."""
        if not password:
            return PasswordCheck(False, "empty password refused")
        source = tenant.policy.identity
        if source == "local":
            return _verify_local(self.core, user_row, password)
        try:
            res = self._ldap(tenant, name, password)
        except LdapUnavailable as exc:
            return PasswordCheck(False, f"LDAP unavailable, refusing: {exc}", "ldap",
                                 unavailable=True, guessable=False)
        if not res.found and source == "ldap+local":
            return _verify_local(self.core, user_row, password)
        if not res.ok:
            return PasswordCheck(False, f"ldap: {res.reason}", "ldap")
        rules = ldap_rules(tenant, res.groups)
        if rules is None:
            return PasswordCheck(False, "ldap: in no mapped group", "ldap")
        account, problem = _provision(self.core, tenant, name, rules,
                                      res.stable_id or f"dn:{res.dn.lower()}")
        if problem:
            return PasswordCheck(False, problem, "ldap", guessable=False)
        return PasswordCheck(True, f"ldap: {res.reason}", "ldap", account=account)
