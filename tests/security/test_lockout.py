"""Issue #9.13: nobody can lock an account out by guessing its password.

Bans for password failures block password logins only (not SSH keys, not app passwords);
failures from addresses the account may not use never count against it. Per-address bans
stay."""

from __future__ import annotations

from pathlib import Path

import paramiko

from gateway.core import Core
from gateway.policy import apppasswords, manage, sshkeys
from gateway.policy.defender import Defender, account_key

from .identity_support import PW, harness, new_key

NO_ADDRESS_BANS = "defender_max_score = 1000\n"


def _wrong_webdav_passwords(gw, login: str, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        r = gw.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PROPFIND", "-H",
                    "Depth: 0", "/", login=login, password=f"not-the-password-{i}")
        assert r.stdout == "401"


def test_password_guesses_do_not_lock_out_keys_or_app_passwords(
        make_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key_path, line = new_key(tmp_path)
    app_secret: list[str] = []

    def setup(core: Core) -> None:
        harness.standard_cast(core)
        sshkeys.add_key(core, "acme", "alice", line)
        app_secret.append(apppasswords.create(core, "acme", "alice", "laptop")[1])

    gw = make_gateway(setup, policy_extra=NO_ADDRESS_BANS)
    _wrong_webdav_passwords(gw, "alice@acme", 5)  # anyone can do this
    assert any(account_key("acme", "alice") in (e.get("reason") or "")
               for e in gw.wait_audit(action="ban")), "the account was not banned"

    # the owner's key still logs in over SSH
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    try:
        client.connect("127.0.0.1", port=gw.sftp_port, username="alice@acme",
                       key_filename=str(key_path), look_for_keys=False, allow_agent=False,
                       timeout=20)
        assert client.open_sftp().listdir("/") is not None
    finally:
        client.close()
    # and the app password over WebDAV
    r = gw.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PROPFIND", "-H", "Depth: 0",
                "/", login="alice@acme", password=app_secret[0])
    assert r.stdout == "207"
    # while the (guessable) account password stays banned, even when right
    r = gw.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PROPFIND", "-H", "Depth: 0",
                "/", login="alice@acme", password=PW)
    assert r.stdout == "401"
    assert gw.sftp_batch("alice@acme", "ls\n").returncode != 0


def test_failures_from_outside_the_networks_do_not_count(make_gateway) -> None:  # type: ignore[no-untyped-def]
    def setup(core: Core) -> None:
        harness.standard_cast(core)
        manage.set_user_policy(core, "acme", "bob", networks=["10.0.0.0/8"])

    gw = make_gateway(setup, policy_extra=NO_ADDRESS_BANS)
    _wrong_webdav_passwords(gw, "bob@acme", 6)  # from 127.0.0.1: outside bob's networks
    gw.wait_audit(action="login", user="bob", result="denied")
    with gw.core() as core:
        keys = {e.key for e in Defender(core).list()}
    assert account_key("acme", "bob") not in keys
    assert "addr:127.0.0.1" in keys  # the address is scored as usual
    assert not [e for e in gw.audit_events(action="ban")
                if account_key("acme", "bob") in (e.get("reason") or "")]
