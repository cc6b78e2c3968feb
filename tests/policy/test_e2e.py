"""End to end through the real front-ends (``python -m gateway.sftp`` and
``python -m gateway.webdav`` as subprocesses over one catalog) with real clients:
paramiko and OpenSSH ``sftp`` (SSH_ASKPASS answers the TOTP prompt), curl and rclone.

Tenant ``sec``: 2FA required; humans k1..k4 (TOTP confirmed, an ed25519 key each; one user
per successful TOTP login, because a code's time step can be used only once per user);
machine ``robot`` (networks 127.0.0.0/8, key). Tenant ``lan``: networks 10.0.0.0/8 only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from policy_helpers import IN_CI, PW, code, enroll
from slapd_fixture import free_port

from gateway import admin, sftp, webdav
from gateway.config import load_config
from gateway.core import Core
from gateway.keyring import create_master_key_file
from gateway.policy import apppasswords, manage, sshkeys

ROOT = Path(__file__).resolve().parents[2]
HUMANS = ("k1", "k2", "k3", "k4", "k5")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if IN_CI:
            pytest.fail(f"CI requires {tool}")
        pytest.skip(f"{tool} is not installed")
    return path


@dataclass
class Env:
    base: Path
    cfg: Path
    sftp_port: int
    dav_port: int
    keys: dict[str, Path]
    secrets: dict[str, str]
    apps: dict[str, str]

    def audit(self) -> list[dict]:
        with Core.open(load_config(self.cfg)) as core:
            core.audit.flush()
            from gateway.audit import query_events

            with core.catalog.read() as conn:
                return list(query_events(conn, action="login"))

    def last_reason(self, user: str) -> str:
        evs = [e for e in self.audit() if e["user"] == user]
        return evs[-1]["reason"] or "" if evs else ""

    def reason_has(self, user: str, text: str, timeout: float = 5.0) -> bool:
        """Whether the user's newest login event says ``text`` (the servers write audit
        events asynchronously: wait for it)."""
        deadline = time.monotonic() + timeout
        while True:
            if text in self.last_reason(user):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _key(path: Path) -> str:
    k = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.OpenSSH,
                                     serialization.NoEncryption()))
    path.chmod(0o600)
    return k.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                       serialization.PublicFormat.OpenSSH).decode()


def _launch(module: str, cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LUMANOX_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "listening on" in log.read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError(f"{module} did not start: {log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if not (sftp.AVAILABLE and webdav.AVAILABLE):
        if IN_CI:
            pytest.fail("CI requires the WebDAV and SFTP front-ends")
        pytest.skip("front-ends not available in this tree")
    from gateway.cli.setup import ensure_ssh_host_keys, ensure_tls_certificate

    base = tmp_path_factory.mktemp("e2e")
    sp, dp = free_port(), free_port()
    cfg_path = base / "gateway.toml"
    cfg_path.write_text(f"""
[gateway]
data_dir = "data"
[audit]
log = "audit.jsonl"
batch_max_delay_ms = 2
[tls]
cert_file = "certs/gateway.crt"
key_file = "certs/gateway.key"
[webdav]
host = "127.0.0.1"
port = {dp}
workers = 1
[sftp]
host = "127.0.0.1"
port = {sp}
workers = 1
host_keys = ["keys/ssh_host_ed25519_key"]
[policy]
credential_cache_ttl_s = 1
""")
    cfg = load_config(cfg_path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(cfg.master_key_file)
    ensure_tls_certificate(cfg.path(cfg.tls.cert_file), cfg.path(cfg.tls.key_file))
    ensure_ssh_host_keys([cfg.path(p) for p in cfg.sftp.host_keys])
    keys, secrets, apps = {}, {}, {}
    with Core.open(cfg) as core:
        admin.create_tenant(core, "sec")
        manage.set_tenant_policy(core, "sec", second_factor="required")
        for u in (*HUMANS, "robot"):
            admin.create_user(core, "sec", u, password=PW,
                              kind="machine" if u == "robot" else "human")
            keys[u] = base / f"{u}_key"
            sshkeys.add_key(core, "sec", u, _key(keys[u]))
        for u in HUMANS:
            secrets[u] = enroll(core, "sec", u).secret
        manage.set_user_policy(core, "sec", "robot", networks=["127.0.0.0/8"])
        apps["k1"] = apppasswords.create(core, "sec", "k1", "laptop")[1]
        apps["robot"] = apppasswords.create(core, "sec", "robot", "backup")[1]
        apps["revoked"] = apppasswords.create(core, "sec", "k2", "old-phone")[1]
        apppasswords.revoke(core, "sec", "k2", "old-phone")
        apps["expired"] = apppasswords.create(
            core, "sec", "k2", "temp", expires_at=datetime.now(UTC) - timedelta(minutes=1))[1]
        apps["far"] = apppasswords.create(core, "sec", "k3", "office",
                                          networks=["10.0.0.0/8", "2001:db8::/32"])[1]
        apps["ro"] = apppasswords.create(core, "sec", "k3", "viewer", read_only=True)[1]
        admin.create_tenant(core, "lan")
        manage.set_tenant_policy(core, "lan", networks=["10.0.0.0/8"])
        admin.create_user(core, "lan", "eve", password=PW)
    procs = [_launch("gateway.sftp", cfg_path, base / "sftp.log"),
             _launch("gateway.webdav", cfg_path, base / "webdav.log")]
    try:
        yield Env(base, cfg_path, sp, dp, keys, secrets, apps)
    finally:
        for p in procs:
            _stop(p)


# --- SFTP with paramiko ------------------------------------------------------------------------
def _transport(env: Env) -> paramiko.Transport:
    t = paramiko.Transport(("127.0.0.1", env.sftp_port))
    t.start_client(timeout=20)
    return t


def _answers(*values: str):  # type: ignore[no-untyped-def]
    def handler(title, instructions, prompts):  # type: ignore[no-untyped-def]
        assert len(prompts) == len(values), prompts
        return list(values)
    return handler


def test_paramiko_key_then_totp(env: Env) -> None:
    t = _transport(env)
    try:
        key = paramiko.Ed25519Key.from_private_key_file(str(env.keys["k1"]))
        remaining = t.auth_publickey("k1@sec", key)
        assert remaining == ["keyboard-interactive"] and not t.is_authenticated()
        assert t.auth_interactive("k1@sec", _answers(code(env.secrets["k1"], +1))) == []
        assert t.is_authenticated()
        sf = paramiko.SFTPClient.from_transport(t)
        assert sf is not None
        with sf.open("/hello.txt", "w") as f:
            f.write(b"2fa ok")
        assert sf.open("/hello.txt").read() == b"2fa ok"
    finally:
        t.close()
    # the same code again (a replay) is refused
    t = _transport(env)
    try:
        t.auth_publickey("k1@sec", key)
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_interactive("k1@sec", _answers(code(env.secrets["k1"], +1)))
        assert not t.is_authenticated()
    finally:
        t.close()


def test_paramiko_key_alone_and_password_fallback_refused(env: Env) -> None:
    t = _transport(env)
    try:
        key = paramiko.Ed25519Key.from_private_key_file(str(env.keys["k2"]))
        assert t.auth_publickey("k2@sec", key) == ["keyboard-interactive"]
        with pytest.raises(paramiko.SSHException):  # BadAuthenticationType or refused
            t.auth_password("k2@sec", PW)
        assert not t.is_authenticated()
        with pytest.raises(paramiko.SSHException):
            paramiko.SFTPClient.from_transport(t)
    finally:
        t.close()
    t = _transport(env)
    try:  # password method straight away, right password: never offered, never accepted
        with pytest.raises(paramiko.BadAuthenticationType) as exc:
            t.auth_password("k2@sec", PW)
        assert "password" not in exc.value.allowed_types
    finally:
        t.close()


def test_paramiko_code_alone_old_code_refused(env: Env) -> None:
    t = _transport(env)
    try:  # code without the password (nor a key)
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_interactive("k3@sec", _answers("", code(env.secrets["k3"])))
    finally:
        t.close()
    t = _transport(env)
    try:
        key = paramiko.Ed25519Key.from_private_key_file(str(env.keys["k3"]))
        t.auth_publickey("k3@sec", key)
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_interactive("k3@sec", _answers(code(env.secrets["k3"], -3)))
        assert not t.is_authenticated()
    finally:
        t.close()


def test_paramiko_password_and_code_one_exchange(env: Env) -> None:
    t = _transport(env)
    try:
        assert t.auth_interactive("k4@sec", _answers(PW, code(env.secrets["k4"], +1))) == []
        assert t.is_authenticated()
    finally:
        t.close()


def test_paramiko_machine_key_and_network(env: Env) -> None:
    t = _transport(env)
    try:
        key = paramiko.Ed25519Key.from_private_key_file(str(env.keys["robot"]))
        assert t.auth_publickey("robot@sec", key) == []
        assert t.is_authenticated()
    finally:
        t.close()
    t = _transport(env)
    try:
        with pytest.raises(paramiko.SSHException):
            t.auth_password("eve@lan", PW)  # 127.0.0.1 is outside lan's 10.0.0.0/8
    finally:
        t.close()
    assert env.reason_has("eve", "tenant-network")


# --- SFTP with OpenSSH ----------------------------------------------------------------------------
def test_openssh_sftp_key_plus_totp_via_askpass(env: Env) -> None:
    sftp_bin = need("sftp")
    askpass = env.base / "askpass.sh"
    askpass.write_text('#!/bin/sh\ncat "$LUMANOX_CODE_FILE"\n')
    askpass.chmod(0o700)
    code_file = env.base / "code"

    def run(user: str, value: str, methods: str = "publickey,keyboard-interactive",
            ) -> subprocess.CompletedProcess[str]:
        code_file.write_text(value)
        e = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force",
                 DISPLAY=":0", LUMANOX_CODE_FILE=str(code_file))
        return subprocess.run(
            [sftp_bin, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=no", "-o",
             f"PreferredAuthentications={methods}", "-o", "NumberOfPasswordPrompts=1",
             "-i", str(env.keys[user]), "-P", str(env.sftp_port), "-b", "-",
             f"{user}@sec@127.0.0.1"], input="pwd\n", text=True, capture_output=True,
            env=e, timeout=60, start_new_session=True)

    ok = run("k5", code(env.secrets["k5"], +1))
    assert ok.returncode == 0, ok.stderr
    assert "Remote working directory" in ok.stdout
    replay = run("k5", code(env.secrets["k5"], +1))
    assert replay.returncode != 0
    key_only = run("k5", "", methods="publickey")
    assert key_only.returncode != 0
    password = run("k5", PW, methods="password")
    assert password.returncode != 0


# --- WebDAV with curl and rclone -----------------------------------------------------------------
def _curl(env: Env, user: str, secret: str) -> tuple[int, str]:
    curl = need("curl")
    r = subprocess.run([curl, "-sk", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}",
                        "-u", f"{user}:{secret}", "-X", "PROPFIND", "-H", "Depth: 1",
                        f"https://127.0.0.1:{env.dav_port}/"], capture_output=True, text=True,
                       timeout=30)
    return int(r.stdout[-3:]), r.stdout


def test_webdav_curl_app_passwords(env: Env) -> None:
    assert _curl(env, "k1@sec", env.apps["k1"])[0] == 207
    assert _curl(env, "k1@sec", env.apps["k1"])[0] == 207  # cached path
    assert _curl(env, "robot@sec", env.apps["robot"])[0] == 207
    status, headers = _curl(env, "k1@sec", PW)  # account password of a 2FA user
    assert status == 401
    assert env.reason_has("k1", "use an app password")
    # the same realm as for a wrong password: a hint would tell the password is right (#9.14)
    assert 'WWW-Authenticate: Basic realm="Lumanox Gateway"' in headers
    assert "app password" not in headers
    status, headers = _curl(env, "k2@sec", env.apps["revoked"])
    assert status == 401 and "app password" not in headers  # generic: nothing to hint
    assert env.reason_has("k2", "revoked")
    assert _curl(env, "k2@sec", env.apps["expired"])[0] == 401
    assert env.reason_has("k2", "expired")
    assert _curl(env, "k3@sec", env.apps["far"])[0] == 401
    assert env.reason_has("k3", "credential-network")
    assert _curl(env, "robot@sec", PW)[0] == 401


def test_webdav_revocation_takes_effect(env: Env) -> None:
    with Core.open(load_config(env.cfg)) as core:
        _, secret = apppasswords.create(core, "sec", "k4", "short-lived")
    assert _curl(env, "k4@sec", secret)[0] == 207
    with Core.open(load_config(env.cfg)) as core:
        apppasswords.revoke(core, "sec", "k4", "short-lived")
    time.sleep(1.2)  # credential cache TTL of this gateway (1 s)
    assert _curl(env, "k4@sec", secret)[0] == 401


def test_webdav_rclone_app_password(env: Env, tmp_path: Path) -> None:
    rclone = need("rclone")
    obscured = subprocess.run([rclone, "obscure", env.apps["ro"]], capture_output=True,
                              text=True, check=True).stdout.strip()
    e = dict(os.environ, RCLONE_CONFIG=str(tmp_path / "none.conf"))
    args = [rclone, "--no-check-certificate", "--webdav-url",
            f"https://127.0.0.1:{env.dav_port}/", "--webdav-user", "k3@sec",
            "--webdav-pass", obscured, "--retries", "1", "--low-level-retries", "1"]
    ls = subprocess.run([*args, "lsjson", ":webdav:"], capture_output=True, text=True, env=e,
                        timeout=60)
    assert ls.returncode == 0, ls.stderr
    assert isinstance(json.loads(ls.stdout), list)
    src = tmp_path / "x.txt"
    src.write_text("read-only scope")
    up = subprocess.run([*args, "copyto", str(src), ":webdav:x.txt"], capture_output=True,
                        text=True, env=e, timeout=60)
    assert up.returncode != 0  # the app password is read-only
    bad = subprocess.run([*args[:-4], "--webdav-pass", subprocess.run(
        [rclone, "obscure", PW], capture_output=True, text=True).stdout.strip(),
        "--retries", "1", "--low-level-retries", "1", "lsjson", ":webdav:"],
        capture_output=True, text=True, env=e, timeout=60)
    assert bad.returncode != 0


# --- protocol matrix through both front-ends ---------------------------------------------------
# (tenant settings, sftp password login ok?, webdav password ok?, audit reason substring)
MATRIX = [
    ("m-dav-only", {"protocols": ["webdav"]}, {}, False, True, "protocol: sftp not allowed"),
    ("m-sftp-only", {"protocols": ["sftp"]}, {}, True, False, "protocol: webdav not allowed"),
    ("m-keys-only", {}, {"methods": {"sftp": ["publickey"]}}, False, True,
     "not offered"),
    ("m-app-only", {}, {"methods": {"webdav": ["app-password"]}}, True, False,
     "method: password not allowed for webdav"),
    ("m-lan", {}, {"networks": ["10.0.0.0/8", "fd00::/8"]}, False, False, "tenant-network"),
    ("m-local", {}, {"networks": ["127.0.0.0/8"]}, True, True, "sufficient"),
    ("m-2fa-grace", {}, {"second_factor": "required", "grace": timedelta(days=1)}, True, True,
     "grace until"),
    ("m-2fa", {}, {"second_factor": "required"}, False, False, "2FA"),
]


@pytest.mark.parametrize(("tenant", "create", "policy", "sftp_ok", "dav_ok", "why"), MATRIX,
                         ids=[m[0] for m in MATRIX])
def test_matrix_through_front_ends(env: Env, tenant, create, policy, sftp_ok, dav_ok,  # type: ignore[no-untyped-def]
                                   why) -> None:
    from gateway.policy.decision import Verdict

    with Core.open(load_config(env.cfg)) as core:
        admin.create_tenant(core, tenant, **create)
        if policy:
            manage.set_tenant_policy(core, tenant, **policy)
        admin.create_user(core, tenant, "u", password=PW)
        expected = {proto: manage.explain(core, f"u@{tenant}", proto, "127.0.0.1", "password")
                    for proto in ("sftp", "webdav")}
    # the decision function predicts what the front-ends do
    assert (expected["sftp"][-1][1].verdict is Verdict.ALLOW) == sftp_ok
    assert (expected["webdav"][-1][1].verdict is Verdict.ALLOW) == dav_ok
    t = _transport(env)
    try:
        if sftp_ok:
            t.auth_password(f"u@{tenant}", PW)
            assert t.is_authenticated()
        else:
            with pytest.raises(paramiko.SSHException) as exc:
                t.auth_password(f"u@{tenant}", PW)
            assert not t.is_authenticated()
            if why == "not offered":  # the front-end never offers what the gate excludes
                assert isinstance(exc.value, paramiko.BadAuthenticationType)
                assert exc.value.allowed_types == ["publickey"]
    finally:
        t.close()
    status, _ = _curl(env, f"u@{tenant}", PW)
    assert (status == 207) == dav_ok, status
    if not dav_ok:
        assert status in (401, 403)
    if why == "not offered":
        return
    deadline = time.monotonic() + 5
    while True:
        reasons = [e["reason"] or "" for e in env.audit() if e["tenant"] == tenant]
        if any(why in r for r in reasons) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert any(why in r for r in reasons), reasons
