"""The asyncssh partial-success extension and key logins, end to end with the real Gate
(SSH keys per user, TOTP 2FA) and real clients (OpenSSH, paramiko).

If an asyncssh upgrade breaks the private names the extension relies on, the first
tests here fail loudly.
"""

from __future__ import annotations

import inspect
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import paramiko
import pyotp
import pytest

from gateway.policy import manage, sshkeys, totp
from gateway.sftp import asyncssh_ext

from .conftest import SSH_BASE, Gateway, need, wait_until


# --- the extension's contract with asyncssh ----------------------------------------------
def test_version_guard() -> None:
    asyncssh_ext.check_version()  # the installed version is in the tested range
    for bad in ("2.23.9", "2.25.0", "3.0.0"):
        with pytest.raises(asyncssh_ext.AsyncsshVersionError):
            asyncssh_ext.check_version(bad)


def test_private_asyncssh_names_still_there() -> None:
    """Everything install() patches or calls; a rename upstream must fail here."""
    from asyncssh import auth, connection
    from asyncssh.constants import MSG_SERVICE_REQUEST

    for name in ("_ServerPublicKeyAuth", "_ServerPasswordAuth", "_ServerKbdIntAuth"):
        cls = getattr(auth, name)
        assert inspect.iscoroutinefunction(cls.send_success)
        assert "partial_success" in inspect.signature(cls.send_failure).parameters
    assert inspect.iscoroutinefunction(auth._ServerPublicKeyAuth._start)
    assert MSG_SERVICE_REQUEST in connection.SSHConnection._packet_handlers
    src = inspect.getsource(connection.SSHConnection._process_service_request)
    for attr in ("_next_service", "_auth_in_progress"):
        assert attr in src
    assert "_auth_complete" in inspect.getsource(connection.SSHConnection)
    asyncssh_ext.install()
    assert auth._server_auth_handlers[b"publickey"] is asyncssh_ext.PublicKeyAuth
    assert auth._server_auth_handlers[b"keyboard-interactive"] is asyncssh_ext.KbdIntAuth
    assert auth._server_auth_handlers[b"password"] is asyncssh_ext.PasswordAuth


# --- end to end ----------------------------------------------------------------------------
@dataclass
class Users:
    base: Path
    frank_key: Path  # frank@acme: key + TOTP required
    gina_key: Path  # gina@acme: key only
    wrong_key: Path  # registered nowhere
    secret: str
    last_step: int = 0
    used: list[int] = field(default_factory=list)

    def next_code(self) -> str:
        """A TOTP code for a step later than any used (the gate refuses reuse)."""
        now = int(time.time() // 30)
        step = max(self.last_step + 1, now - 1)
        while step > now + 1:  # outside the accepted window: wait for time to catch up
            time.sleep(1)
            now = int(time.time() // 30)
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * 30)


def _keypair(path: Path) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    key.write_public_key(str(path) + ".pub")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def users(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Users]:
    from gateway import admin

    base = tmp_path_factory.mktemp("keys")
    frank, gina, wrong = (_keypair(base / n) for n in ("frank", "gina", "wrong"))
    with gateway.core() as core:
        admin.create_user(core, "acme", "frank", password="frank-Password-1")
        admin.create_user(core, "acme", "gina")
        sshkeys.add_key(core, "acme", "frank", Path(str(frank) + ".pub").read_text())
        sshkeys.add_key(core, "acme", "gina", Path(str(gina) + ".pub").read_text())
        enrolment = totp.enroll(core, "acme", "frank")
        u = Users(base, frank, gina, wrong, enrolment.secret)
        totp.confirm(core, "acme", "frank", u.next_code())
        manage.set_user_policy(core, "acme", "frank", second_factor="required")
    yield u


def _openssh(gateway: Gateway, login: str, key: Path, answer: str, methods: str,
             commands: str = "ls\n") -> subprocess.CompletedProcess[str]:
    args = [need("sftp"), *SSH_BASE, "-o", f"PreferredAuthentications={methods}",
            "-o", "IdentitiesOnly=yes", "-i", str(key), "-P", str(gateway.port), "-b", "-",
            f"{login}@127.0.0.1"]
    return subprocess.run(args, input=commands, text=True, capture_output=True,
                          env=gateway.ssh_env(answer), timeout=60, start_new_session=True)


def test_openssh_key_then_totp(gateway: Gateway, users: Users) -> None:
    r = _openssh(gateway, "frank@acme", users.frank_key, users.next_code(),
                 "publickey,keyboard-interactive", "pwd\n")
    assert r.returncode == 0, r.stderr
    assert "Remote working directory: /" in r.stdout

    def steps() -> list[dict]:
        return [e for e in gateway.audit_events() if e.get("action") == "login"
                and e.get("user") == "frank" and e.get("result") == "ok"]

    assert wait_until(lambda: len(steps()) >= 2)
    reasons = [e.get("reason") or "" for e in steps()]
    assert any("partial success" in x and "method=publickey" in x for x in reasons)
    assert any("method=keyboard-interactive" in x for x in reasons)


def test_key_alone_is_not_enough_for_a_2fa_user(gateway: Gateway, users: Users) -> None:
    r = _openssh(gateway, "frank@acme", users.frank_key, "000000", "publickey")
    assert r.returncode != 0
    # nor the password instead of the code: after the key only keyboard-interactive is left
    r = _openssh(gateway, "frank@acme", users.frank_key, "frank-Password-1",
                 "publickey,password")
    assert r.returncode != 0


def test_wrong_totp_code_refused(gateway: Gateway, users: Users) -> None:
    r = _openssh(gateway, "frank@acme", users.frank_key, "123456",
                 "publickey,keyboard-interactive")
    assert r.returncode != 0


def test_paramiko_key_then_keyboard_interactive(gateway: Gateway, users: Users) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(users.frank_key))
    t = paramiko.Transport(("127.0.0.1", gateway.port))
    try:
        t.start_client(timeout=20)
        remaining = t.auth_publickey("frank@acme", key)
        assert remaining == ["keyboard-interactive"]  # partial success
        code = users.next_code()
        t.auth_interactive("frank@acme", lambda title, instr, prompts: [code for _ in prompts])
        assert t.is_authenticated()
        sftp = paramiko.SFTPClient.from_transport(t)
        assert sftp is not None
        sftp.listdir(".")
    finally:
        t.close()


def test_paramiko_wrong_key_first_then_right_one(gateway: Gateway, users: Users) -> None:
    """paramiko sends a new ssh-userauth service request per attempt."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
    client.connect("127.0.0.1", gateway.port, username="gina@acme",
                   key_filename=[str(users.wrong_key), str(users.gina_key)],
                   allow_agent=False, look_for_keys=False, timeout=20)
    try:
        sftp = client.open_sftp()
        with sftp.open("gina.txt", "w") as f:
            f.write(b"from paramiko")
        assert sftp.open("gina.txt").read() == b"from paramiko"
    finally:
        client.close()


def test_paramiko_password_retry_same_connection(gateway: Gateway) -> None:
    from .conftest import PW

    t = paramiko.Transport(("127.0.0.1", gateway.port))
    try:
        t.start_client(timeout=20)
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_password("alice@acme", "not-the-password")
        t.auth_password("alice@acme", PW)  # second service request on one connection
        assert t.is_authenticated()
    finally:
        t.close()
