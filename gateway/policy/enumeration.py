"""Say nothing about whether a tenant or an account exists (#9.15).

Before any credential is verified, an SSH client is offered the methods (and
keyboard-interactive prompts) of a plain human of the tenant — or, for an unknown,
disabled or otherwise refused tenant, of a tenant with the default policy — never those
of the actual account (a TOTP user, a machine, a disabled user). Every refusal of a
password for an unknown account or tenant does the same hash work as a real check.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.policy import passwords
from gateway.policy.decision import Facts, TenantFacts, UserFacts, Verdict, decide
from gateway.policy.model import PROTOCOL_METHODS, TenantPolicy, UserPolicy

_DEFAULT_TENANT = TenantFacts("-", "-", False, tuple(PROTOCOL_METHODS), TenantPolicy())


def ghost_facts(facts: Facts, user_name: str) -> Facts:
    """The facts of a plain, enabled human of this tenant (or of a default tenant when the
    tenant is unknown or refused before any credential)."""
    tenant = facts.tenant
    if tenant is None or decide(replace(facts, user=None, banned=None), ()).rules[-1].name \
            in ("tenant", "protocol", "tenant-network"):
        tenant = _DEFAULT_TENANT
    ghost = UserFacts("-", user_name, "human", False, None, UserPolicy(), False)
    return replace(facts, tenant=tenant, user=ghost, banned=None)


def public_methods(facts: Facts, user_name: str) -> tuple[str, ...]:
    """SSH methods offered before any credential: the same for every account of a tenant."""
    d = decide(ghost_facts(facts, user_name), ())
    return d.next_methods if d.verdict is not Verdict.DENY else ()


def dummy_password_check(password: str) -> None:
    """The work of a password check, for a refusal that needs none (same time)."""
    passwords.verify_password(None, password or "-")
