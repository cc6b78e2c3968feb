"""Brute-force defender: bans per address and per account, shared through the catalog."""

from __future__ import annotations

import pytest
from policy_helpers import PW, write_config

from gateway import admin
from gateway.audit import query_events
from gateway.cli.main import main as cli
from gateway.errors import AuthenticationFailed
from gateway.policy.defender import Defender, Limits
from gateway.policy.gate import Attempt, Gate


def dav(login: str, addr: str) -> Attempt:
    return Attempt("webdav", login, addr)


def test_address_banned_others_unaffected(core, acme, config, capsys) -> None:  # type: ignore[no-untyped-def]
    for i in range(8):
        admin.create_user(core, "acme", f"u{i}", password=PW)
    gate = Gate(core)
    gate.defender = Defender(core, Limits(address_max=5, account_max=4))
    gate.credential_cache.ttl_s = 0
    attacker, other = "198.51.100.66", "203.0.113.7"
    for i in range(5):  # spraying 5 accounts, one guess each
        with pytest.raises(AuthenticationFailed):
            gate.authenticate_basic(dav(f"u{i}@acme", attacker), "guess-guess")
    # banned now: even a right password from that address is refused, before any check
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(dav("u7@acme", attacker), PW)
    # a second gate (another process) sees the ban through the catalog
    with pytest.raises(AuthenticationFailed):
        Gate(core).begin(Attempt("sftp", "u7@acme", attacker))
    # other addresses unaffected
    assert gate.authenticate_basic(dav("u7@acme", other), PW).user_name == "u7"
    core.audit.flush()
    with core.catalog.read() as conn:
        bans = list(query_events(conn, action="ban"))
        logins = list(query_events(conn, action="login"))
    assert len(bans) == 1 and f"addr:{attacker}" in bans[0]["reason"]
    assert "defender" in logins[-3]["reason"] or "defender" in logins[-2]["reason"]
    assert all(PW not in (e["reason"] or "") and "guess-guess" not in (e["reason"] or "")
               for e in logins)
    # CLI: list and unban
    cfg_file = write_config(config)
    assert cli(["-c", cfg_file, "defender", "list"]) == 0
    assert f"addr:{attacker}" in capsys.readouterr().out
    assert cli(["-c", cfg_file, "defender", "unban", attacker]) == 0
    assert gate.authenticate_basic(dav("u7@acme", attacker), PW).user_name == "u7"


def test_account_guard_bans_before_directory_lockout(core, acme) -> None:  # type: ignore[no-untyped-def]
    gate = Gate(core)
    gate.defender = Defender(core, Limits(address_max=100, account_max=4))
    asked = []
    real = gate.identity.check

    def spy(*a, **kw):  # type: ignore[no-untyped-def]
        asked.append(1)
        return real(*a, **kw)

    gate.identity.check = spy  # type: ignore[method-assign]
    for i in range(10):
        with pytest.raises(AuthenticationFailed):
            gate.authenticate_basic(dav("alice@acme", f"198.51.100.{i}"), "guess-guess")
    assert len(asked) == 4  # the identity source saw 4 guesses, never more


def test_ban_during_one_ssh_connection(core, acme) -> None:  # type: ignore[no-untyped-def]
    gate = Gate(core)
    gate.defender = Defender(core, Limits(address_max=3, account_max=100))
    flow = gate.begin(Attempt("sftp", "alice@acme", "198.51.100.5"))
    for _ in range(3):
        assert flow.password("guess-guess").outcome.value == "reject"
    # banned now: the same connection cannot go on guessing, even the right password fails
    assert flow.password(PW).outcome.value == "reject"


def test_app_password_shaped_secret_never_tried_as_password(core, acme) -> None:  # type: ignore[no-untyped-def]
    shaped = "lxa_" + "A" * 32
    admin.set_user(core, "acme", "alice", password=shaped)
    with pytest.raises(AuthenticationFailed):
        Gate(core).authenticate_basic(dav("alice@acme", "203.0.113.1"), shaped)
