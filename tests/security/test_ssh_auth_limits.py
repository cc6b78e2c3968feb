"""Issue #9.10: one SSH connection may try at most ``sftp.max_auth_attempts`` (default 6)
credentials, then it is disconnected; the refusals still count for the defender."""

from __future__ import annotations

import time

import paramiko

from gateway.policy.defender import account_key

from .identity_support import paramiko_transport


def _denied(gw, user: str, want: int) -> int:  # type: ignore[no-untyped-def]
    """Audited refusals of ``user`` once ``want`` arrived (or after 10 s), then 1 s more."""
    deadline = time.monotonic() + 10
    while len(gw.audit_events(action="login", result="denied", user=user)) < want \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # anything beyond ``want`` would show now
    return len(gw.audit_events(action="login", result="denied", user=user))


def _hammer(port: int, login: str, tries: int = 30) -> tuple[int, bool]:
    """Wrong passwords on ONE connection; (refusals received, connection still up)."""
    t = paramiko_transport(port)
    refused = 0
    try:
        for i in range(tries):
            try:
                t.auth_password(login, f"wrong-{i}")
            except paramiko.AuthenticationException:
                refused += 1
            except (paramiko.SSHException, EOFError, OSError):
                break
        return refused, t.is_active()
    finally:
        t.close()


def test_connection_dropped_after_six_failures(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(policy_extra="defender_max_score = 1000\n"
                                   "defender_account_max_score = 1000\n")
    refused, alive = _hammer(gw.sftp_port, "alice@acme")
    # five failures answered, the sixth answered by the disconnect (as OpenSSH does)
    assert refused in (5, 6) and not alive
    assert _denied(gw, "alice", 6) == 6
    with gw.core() as core:  # every refusal was scored by the defender
        scores = {e.key: e.score for e in core_defender(core).list()}
    assert scores.get(account_key("acme", "alice"), 0) > 5


def test_limit_is_configurable_and_unknown_users_count_too(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(sftp_extra="max_auth_attempts = 3\n",
                      policy_extra="defender_max_score = 1000\n"
                                   "defender_account_max_score = 1000\n")
    for login in ("nobody@acme", "nobody@nosuchtenant"):
        refused, alive = _hammer(gw.sftp_port, login)
        assert refused in (2, 3) and not alive
    assert _denied(gw, "nobody", 6) == 6


def core_defender(core):  # type: ignore[no-untyped-def]
    from gateway.policy.defender import Defender

    return Defender(core)
