"""Issue #9.5: a tenant's method rule for scp must hold for legacy ``scp -O`` too: the
methods used at the SSH login are re-checked against the channel's protocol."""

from __future__ import annotations

from pathlib import Path

from gateway import admin
from gateway.core import Core
from gateway.policy import manage, sshkeys

from .identity_support import PW, harness, new_key


def _scp_key_only(core: Core, key_line: str) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password=PW)
    manage.set_tenant_policy(core, "acme", methods={"scp": ["publickey"]})
    sshkeys.add_key(core, "acme", "alice", key_line)


def test_legacy_scp_with_password_refused_when_scp_is_publickey_only(
        make_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key_path, line = new_key(tmp_path)
    gw = make_gateway(lambda core: _scp_key_only(core, line))
    src = tmp_path / "payload.txt"
    src.write_text("payload\n")

    by_password = gw.scp(str(src), gw.remote("alice@acme", "/pw.txt"), legacy=True)
    assert by_password.returncode != 0, "legacy scp accepted a password login"
    denied = gw.wait_audit(action="login", protocol="scp", result="denied")
    assert denied and "method" in denied[-1]["reason"]

    # sftp (and scp in its default SFTP mode) still take the password: its rule allows it
    assert gw.scp(str(src), gw.remote("alice@acme", "/sftp.txt")).returncode == 0
    listing = gw.sftp_batch("alice@acme", "ls /\n")
    assert "sftp.txt" in listing.stdout and "pw.txt" not in listing.stdout

    # the key login may use legacy scp
    key_opts = [*harness.SSH_BASE, "-i", str(key_path), "-o", "IdentitiesOnly=yes",
                "-o", "PreferredAuthentications=publickey"]
    by_key = gw.scp(str(src), gw.remote("alice@acme", "/key.txt"), legacy=True,
                    opts=key_opts)
    assert by_key.returncode == 0, by_key.stderr


def test_sessions_rechecked_per_channel_protocol(make_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every operation re-decides the login for its channel's protocol (sftp or scp, with
    the login's methods), never for the login's audit label."""
    gw = make_gateway(policy_extra="session_recheck_s = 0\n")
    src = tmp_path / "payload.txt"
    src.write_text("payload\n")
    r = gw.sftp_batch("alice@acme", "mkdir /d\nput " + str(src) + " /d/a.txt\nls /d\n")
    assert r.returncode == 0 and "a.txt" in r.stdout, r.stderr
    r = gw.scp(str(src), gw.remote("alice@acme", "/d/b.txt"), legacy=True)
    assert r.returncode == 0, r.stderr
    r = gw.scp(gw.remote("alice@acme", "/d/b.txt"), str(tmp_path / "back.txt"), legacy=True)
    assert r.returncode == 0 and (tmp_path / "back.txt").read_text() == "payload\n"
