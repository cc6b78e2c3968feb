"""Users' credentials as every admin interface changes them (the CLI and the admin API):
SSH keys and app passwords added and removed with their audit events, and the rule that an
app password is created only after a TOTP-verified step."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from gateway.admin import record_admin_action
from gateway.core import Core
from gateway.errors import GatewayError, NotFound
from gateway.policy import apppasswords, sshkeys
from gateway.policy.apppasswords import AppPassword
from gateway.policy.sshkeys import SshKey


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


# --- audited credential changes (the CLI's ``key`` / ``app-password`` and the admin API) ---
def add_ssh_key(core: Core, tenant: str, user: str, line: str, *,
                networks: list[str] | None = None, expires_at: datetime | None = None,
                comment: str | None = None) -> SshKey:
    """Add a public key to a user; audited as ``ssh-key-add`` (type and fingerprint)."""
    k = sshkeys.add_key(core, tenant, user, line, networks=networks, expires_at=expires_at,
                        comment=comment)
    record_admin_action(core, "ssh-key-add", tenant=tenant, path=user,
                        reason=f"{k.key_type} {k.fingerprint}")
    return k


def remove_ssh_key(core: Core, tenant: str, user: str, fingerprint: str) -> None:
    sshkeys.remove_key(core, tenant, user, fingerprint)
    record_admin_action(core, "ssh-key-remove", tenant=tenant, path=user, reason=fingerprint)


def create_app_password(core: Core, tenant: str, user: str, label: str, *,
                        code: str | None = None, read_only: bool = False, prefix: str = "/",
                        networks: list[str] | None = None,
                        expires_at: datetime | None = None) -> tuple[AppPassword, str]:
    """A new app password and its secret (shown once), after the second-factor rule;
    audited as ``app-password-create`` (id, label, scope; never the secret)."""
    require_second_factor(core, tenant, user, code)
    ap, secret = apppasswords.create(core, tenant, user, label, read_only=read_only,
                                     prefix=prefix, networks=networks, expires_at=expires_at)
    scope = " read-only" if ap.read_only else ""
    record_admin_action(core, "app-password-create", tenant=tenant, path=user,
                        reason=f"{ap.id[:8]} {ap.label!r}{scope}")
    return ap, secret


def revoke_app_password(core: Core, tenant: str, user: str, ident: str) -> None:
    apppasswords.revoke(core, tenant, user, ident)
    record_admin_action(core, "app-password-revoke", tenant=tenant, path=user, reason=ident)
