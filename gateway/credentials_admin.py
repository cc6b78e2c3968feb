"""Rules for creating users' credentials that every admin interface applies alike (the CLI
and the admin API): an app password is created only after a TOTP-verified step."""

from __future__ import annotations

from dataclasses import replace

from gateway.core import Core
from gateway.errors import GatewayError, NotFound


class SecondFactorNeeded(GatewayError):
    """The user has TOTP and no code was given (the CLI asks for one on a terminal)."""


def replace_grace(facts):  # type: ignore[no-untyped-def]
    """Facts as if the enrolment grace were over (a grace period does not waive TOTP for
    creating a long-lived credential)."""
    assert facts.tenant is not None
    return replace(facts, tenant=replace(facts.tenant, policy=replace(
        facts.tenant.policy, grace_until=None)))


def require_second_factor(core: Core, tenant: str, user: str, code: str | None) -> None:
    """Refuse to create an app password unless ``code`` is a current TOTP code of a user
    who has TOTP, or the user needs no TOTP at all."""
    from gateway.policy import totp
    from gateway.policy.decision import needs_totp
    from gateway.policy.gate import Gate

    facts = Gate(core).load("webdav", tenant, user, "127.0.0.1").facts
    if facts.user is None:
        raise NotFound(f"no user {user}@{tenant}")
    if facts.user.totp_enrolled:
        if code is None:
            raise SecondFactorNeeded("this user has TOTP: pass --code CODE (a current code)")
        assert facts.tenant is not None
        if not totp.verify(core, facts.tenant.id, facts.user.id, code):
            raise GatewayError("the TOTP code is wrong, expired or already used; nothing created")
    elif facts.user.kind == "human" and needs_totp(replace_grace(facts))[0]:
        raise GatewayError(f"{user}@{tenant} must enrol TOTP first (`totp enroll`): app "
                           "passwords are created after a TOTP-verified step")
