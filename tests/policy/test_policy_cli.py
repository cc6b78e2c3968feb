"""The policy CLI: policy show/set/set-user/explain, key, totp, app-password, tenant show."""

from __future__ import annotations

import re

import pyotp
import pytest
from policy_helpers import code, new_key, write_config

from gateway.cli.main import main as cli
from gateway.policy.gate import Attempt, Gate, Outcome


@pytest.fixture
def run(config, acme, capsys):  # type: ignore[no-untyped-def]
    cfg = write_config(config)

    def run(*argv: str, rc: int = 0) -> str:
        got = cli(["-c", cfg, *argv])
        out, err = capsys.readouterr()
        assert got == rc, (out, err)
        return out + err

    return run


def test_policy_set_show_explain(run) -> None:  # type: ignore[no-untyped-def]
    run("policy", "set", "acme", "--second-factor", "required", "--networks",
        "203.0.113.0/24,2001:db8::/32", "--methods-webdav", "app-password")
    out = run("tenant", "show", "acme")
    assert "second factor: required" in out and "2001:db8::/32" in out
    assert "methods webdav: app-password" in out
    out = run("policy", "explain", "alice@acme", "--protocol", "sftp", "--from", "203.0.113.7",
              "--method", "publickey")
    assert "decision: CONTINUE (next: keyboard-interactive)" in out
    assert "decision: ALLOW" in out and "[ok] second-factor" in out
    out = run("policy", "explain", "alice@acme", "--protocol", "sftp", "--from", "192.0.2.1",
              "--method", "password")
    assert "[NO] tenant-network: 192.0.2.1 outside tenant networks" in out
    out = run("policy", "explain", "alice@acme", "--protocol", "sftp", "--from", "203.0.113.9",
              "--method", "password")
    assert "decision: DENY" in out and "plain password method is never accepted" in out
    # a user can only narrow
    out = run("policy", "set-user", "alice@acme", "--networks", "10.0.0.0/8", rc=1)
    assert "outside the tenant's networks" in out
    out = run("policy", "set-user", "alice@acme", "--methods-webdav", "password", rc=1)
    assert "can only narrow" in out
    run("policy", "set-user", "alice@acme", "--networks", "203.0.113.0/28")
    out = run("policy", "explain", "alice@acme", "--protocol", "webdav", "--from",
              "203.0.113.100", "--method", "app-password")
    assert "[NO] user-network" in out


def test_keys_totp_app_passwords(run, core) -> None:  # type: ignore[no-untyped-def]
    _, line = new_key()
    out = run("key", "add", "alice@acme", line, "--networks", "203.0.113.0/24",
              "--expires", "30d")
    fp = re.search(r"(SHA256:\S+)", out).group(1)  # type: ignore[union-attr]
    assert fp in run("key", "list", "alice@acme")
    out = run("totp", "enroll", "alice@acme")
    secret = re.search(r"secret \(manual entry\): (\S+)", out).group(1)  # type: ignore[union-attr]
    assert ("otpauth://totp/" in out and "█" in out) or "▀" in out
    run("totp", "confirm", "alice@acme", "000000" if code(secret, -1) != "000000" else "111111",
        rc=1)
    out = run("totp", "confirm", "alice@acme", code(secret, -1))
    assert len(re.findall(r"^  \w{6}-\w{6}$", out, re.M)) == 10
    # app password creation needs a TOTP-verified step
    assert "pass --code" in run("app-password", "create", "alice@acme", "--label", "nas", rc=1)
    out = run("app-password", "create", "alice@acme", "--label", "nas", "--read-only",
              "--code", code(secret, 0))
    token = re.search(r"^  (lxa_\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
    assert "nas" in run("app-password", "list", "alice@acme")
    p = Gate(core).authenticate_basic(Attempt("webdav", "alice@acme", "203.0.113.7"), token)
    assert p.scope_perms == frozenset({"list", "read"})
    run("app-password", "revoke", "alice@acme", "nas")
    assert "revoked" in run("app-password", "list", "alice@acme")
    run("key", "remove", "alice@acme", fp)
    flow = Gate(core).begin(Attempt("sftp", "alice@acme", "203.0.113.7"))
    assert flow.public_key_verified(line).outcome is Outcome.REJECT
    assert pyotp.TOTP(secret).now()  # secret usable by an authenticator
