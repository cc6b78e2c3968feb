"""Issue #9.10: one SSH connection may try at most ``sftp.max_auth_attempts`` (default 6)
credentials, then it is disconnected; the refusals still count for the defender."""

from __future__ import annotations

import paramiko
from identity_support import paramiko_transport

from gateway.policy.defender import account_key


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
    assert refused == 6 and not alive
    events = gw.wait_audit(action="login", result="denied", user="alice")
    assert len(events) == 6
    with gw.core() as core:  # every refusal was scored by the defender
        scores = {e.key: e.score for e in core_defender(core).list()}
    assert scores.get(account_key("acme", "alice"), 0) > 5


def test_limit_is_configurable_and_unknown_users_count_too(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(sftp_extra="max_auth_attempts = 3\n",
                      policy_extra="defender_max_score = 1000\n"
                                   "defender_account_max_score = 1000\n")
    assert _hammer(gw.sftp_port, "nobody@acme") == (3, False)
    assert _hammer(gw.sftp_port, "nobody@nosuchtenant") == (3, False)


def core_defender(core):  # type: ignore[no-untyped-def]
    from gateway.policy.defender import Defender

    return Defender(core)
