"""Fixtures: a real ``python -m gateway.sftp`` on 127.0.0.1 and helpers for real clients.

The gateway runs as a subprocess with a temporary config (SQLite catalog, host keys made
by ``ensure_ssh_host_keys``, a free port). Tenants:

* ``acme``    all protocols; users ``alice`` (password ``PW``) and ``bob``;
* ``nosftp``  WebDAV only; user ``carol``;
* ``noscp``   sftp without legacy scp; user ``dave``;
* ``tight``   a 3 MiB byte quota; user ``erin``.

OpenSSH clients get the password through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force).
A test needing a missing tool skips with the reason, except under CI=true where it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from localnet import free_port

from gateway import admin
from gateway.cli.setup import ensure_ssh_host_keys
from gateway.config import load_config
from gateway.core import Core
from gateway.keyring import create_master_key_file
from tests.audit_stream import synced_audit_file

PW = "Correct-Horse-7-battery"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SSH_BASE = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=no", "-o", "ConnectTimeout=20"]
SSH_OPTS = [*SSH_BASE, "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", "PubkeyAuthentication=no"]


def need(tool: str) -> str:
    """Path of a system tool; skip (or fail in CI) when it is missing."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (Debian package: see docs/sftp.md)"
        if IN_CI:
            pytest.fail(f"CI requires {message}")
        pytest.skip(message)
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def make_file(path: Path, size: int, seed: int = 1) -> Path:
    """A file of pseudo-random, incompressible bytes (fast to produce)."""
    block = hashlib.shake_256(f"lumanox-{seed}".encode()).digest(1 << 20)
    with path.open("wb") as f:
        left = size
        i = 0
        while left > 0:
            chunk = block if i % 2 == 0 else block[::-1]
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
            i += 1
    return path


def write_config(base: Path, port: int, *, workers: int = 1, extra: str = "") -> Path:
    cfg = base / "gateway.toml"
    cfg.write_text(f"""
[gateway]
data_dir = "{base / 'data'}"

[catalog]
url = "sqlite:///{base / 'data' / 'catalog.db'}"

[audit]
log = "{base / 'audit.jsonl'}"
batch_max_delay_ms = 2

[sftp]
host = "127.0.0.1"
port = {port}
workers = {workers}
host_keys = ["{base / 'keys' / 'ssh_host_ed25519_key'}", "{base / 'keys' / 'ssh_host_ecdsa_key'}"]
{extra}
""")
    return cfg


@dataclass
class Gateway:
    """A running gateway subprocess and what the tests need to talk to it."""

    base: Path
    config_path: Path
    port: int
    proc: subprocess.Popen[str] | None = None
    askpass: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    def core(self) -> Core:
        return Core.open(load_config(self.config_path))

    def ssh_env(self, password: str = PW) -> dict[str, str]:
        assert self.askpass is not None
        pw_file = self.base / f"pw-{hashlib.sha1(password.encode()).hexdigest()[:8]}"  # noqa: S324
        pw_file.write_text(password)
        env = dict(os.environ)
        env.update(SSH_ASKPASS=str(self.askpass), SSH_ASKPASS_REQUIRE="force",
                   DISPLAY=env.get("DISPLAY", ":0"), LUMANOX_TEST_PW_FILE=str(pw_file))
        return env

    def sftp_batch(self, login: str, commands: str, *, password: str = PW,
                   cwd: Path | None = None, timeout: float = 300,
                   extra: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sftp -b -`` with the commands; returns the completed process."""
        args = [need("sftp"), *SSH_OPTS, *(extra or []), "-P", str(self.port), "-b", "-",
                f"{login}@127.0.0.1"]
        return subprocess.run(args, input=commands, text=True, capture_output=True,
                              env=self.ssh_env(password), cwd=cwd, timeout=timeout,
                              start_new_session=True)

    def scp(self, *paths: str, legacy: bool = False, password: str = PW,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        args = [need("scp"), *SSH_OPTS, "-P", str(self.port), *(["-O"] if legacy else []),
                *paths]
        return subprocess.run(args, text=True, capture_output=True, env=self.ssh_env(password),
                              timeout=timeout, start_new_session=True)

    def remote(self, login: str, path: str = "") -> str:
        return f"{login}@127.0.0.1:{path}"

    def paramiko(self, login: str, password: str = PW) -> Any:
        """A connected paramiko ``SSHClient`` (password login)."""
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
        client.connect("127.0.0.1", self.port, username=login, password=password,
                       allow_agent=False, look_for_keys=False, timeout=20)
        return client

    def audit_events(self) -> list[dict]:
        import json

        path = synced_audit_file(self.config_path)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start_gateway(base: Path, *, workers: int = 1, extra: str = "") -> Gateway:
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg_path = write_config(base, port, workers=workers, extra=extra)
    cfg = load_config(cfg_path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(cfg.master_key_file)
    ensure_ssh_host_keys([cfg.path(p) for p in cfg.sftp.host_keys])
    with Core.open(cfg) as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice", password=PW)
        admin.create_user(core, "acme", "bob", password=PW)
        admin.create_tenant(core, "nosftp", protocols=["webdav"])
        admin.create_user(core, "nosftp", "carol", password=PW)
        admin.create_tenant(core, "noscp", protocols=["sftp", "webdav"])
        admin.create_user(core, "noscp", "dave", password=PW)
        admin.create_tenant(core, "scponly", protocols=["scp"])
        admin.create_user(core, "scponly", "frank", password=PW)
        admin.create_tenant(core, "tight", quota_bytes=3 * 1024 * 1024)
        admin.create_user(core, "tight", "erin", password=PW)
    askpass = base / "askpass.sh"
    askpass.write_text('#!/bin/sh\ncat "$LUMANOX_TEST_PW_FILE"\n')
    askpass.chmod(0o700)
    gw = Gateway(base, cfg_path, port, askpass=askpass)
    gw.proc = launch(cfg_path)
    return gw


def launch(cfg_path: Path, *, wait: bool = True,
           log_level: str = "") -> subprocess.Popen[str]:
    """Start ``python -m gateway.sftp``; output goes to files next to the config."""
    env = dict(os.environ, LUMANOX_CONFIG=str(cfg_path), PYTHONPATH=str(ROOT))
    if log_level:
        env["LUMANOX_SFTP_LOG"] = log_level
    out_path, err_path = cfg_path.with_suffix(".out"), cfg_path.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen([PYTHON, "-m", "gateway.sftp"], env=env, text=True,
                                stdout=out, stderr=err, start_new_session=True)
    if wait:
        ok = wait_until(lambda: "listening on" in out_path.read_text() or proc.poll() is not None,
                        timeout=60)
        if not ok or proc.poll() is not None:
            stop(proc)
            raise RuntimeError(f"gateway did not start: {out_path.read_text()!r} "
                               f"{err_path.read_text()[-2000:]}")
    return proc


def stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for the whole test session (tests use their own folders)."""
    gw = start_gateway(tmp_path_factory.mktemp("gw"))
    try:
        yield gw
    finally:
        stop(gw.proc)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "local"
    d.mkdir()
    return d


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
