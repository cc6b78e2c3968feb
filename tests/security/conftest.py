"""Harness for the attack tests: a real gateway (WebDAV + SFTP) on 127.0.0.1.

``make_gateway(setup, extra=...)`` writes a config (SQLite catalog, TLS certificate, SSH
host keys, free ports), lets ``setup(core)`` create the tenants and users the attack needs,
starts ``python -m gateway serve`` (both front-ends, one worker each) and waits until both
ports accept. ``extra`` is TOML appended to the config (e.g. ``"[webdav]\\n..."`` keys are
merged: give whole sections that the base config does not have, or use ``webdav_extra`` /
``sftp_extra`` / ``policy_extra`` for keys inside those sections).

Every gateway started in a test is stopped at the end of that test. A session-wide
gateway with a standard cast (``secgw``) serves tests that only need ordinary accounts.

Tools (curl, sftp, scp, ...) come from the machine; a missing one skips with the reason,
except under CI=true where it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from localnet import free_port, wait_port
from sftp.conftest import (
    need,  # the suite's one tool check (skip, or fail under CI)
    stop as stop_process,
)

from gateway import admin
from gateway.cli.setup import ensure_ssh_host_keys, ensure_tls_certificate
from gateway.config import load_config
from gateway.core import Core
from gateway.keyring import create_master_key_file
from tests.audit_stream import synced_audit_file

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[2]
PW = "Sec-Test-pw-8-battery"
SSH_BASE = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=no", "-o", "ConnectTimeout=20"]
SSH_PASSWORD_OPTS = [*SSH_BASE, "-o", "PreferredAuthentications=password,keyboard-interactive",
                     "-o", "PubkeyAuthentication=no"]


def _config_text(base: Path, wport: int, sport: int, *, webdav_extra: str, sftp_extra: str,
                 policy_extra: str, extra: str) -> str:
    return f"""
[gateway]
data_dir = "{base / 'data'}"

[audit]
log = "{base / 'audit.jsonl'}"
batch_max_delay_ms = 2

[tls]
cert_file = "{base / 'certs' / 'gateway.crt'}"
key_file = "{base / 'certs' / 'gateway.key'}"

[webdav]
host = "127.0.0.1"
port = {wport}
workers = 1
threads = 16
{webdav_extra}

[sftp]
host = "127.0.0.1"
port = {sport}
workers = 1
host_keys = ["{base / 'certs' / 'ssh_host_ed25519_key'}", "{base / 'certs' / 'ssh_host_ecdsa_key'}"]
{sftp_extra}

[policy]
{policy_extra}

{extra}
"""


@dataclass
class SecGateway:
    """A running ``gateway serve`` and what an attack test needs to talk to it."""

    base: Path
    config_path: Path
    webdav_port: int
    sftp_port: int
    proc: subprocess.Popen[str] | None = None
    _askpass: Path | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.webdav_port}"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def audit_log(self) -> Path:
        """The audit stream, exported from the catalog up to now."""
        return synced_audit_file(self.config_path)

    def core(self) -> Core:
        """The gateway's catalog opened in this process (use as a context manager)."""
        return Core.open(load_config(self.config_path))

    def audit_events(self, **match: object) -> list[dict]:
        """Events of the JSON line log, optionally only those whose fields equal ``match``."""
        if not self.audit_log.exists():
            return []
        events = [json.loads(line) for line in self.audit_log.read_text().splitlines()
                  if line.strip()]
        return [e for e in events if all(e.get(k) == v for k, v in match.items())]

    def wait_audit(self, timeout: float = 5.0, **match: object) -> list[dict]:
        """Wait until at least one event matching ``match`` is in the log; return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.audit_events(**match)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def output(self) -> str:
        """What the gateway printed so far (stdout and stderr)."""
        parts = [p.read_text(errors="replace") for p in
                 (self.config_path.with_suffix(".out"), self.config_path.with_suffix(".err"))
                 if p.exists()]
        return "".join(parts)

    # --- clients --------------------------------------------------------------------
    def tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def raw_tls(self, timeout: float = 10) -> ssl.SSLSocket:
        """A TLS socket to the WebDAV listener (for hand-written requests)."""
        sock = socket.create_connection(("127.0.0.1", self.webdav_port), timeout=timeout)
        return self.tls_context().wrap_socket(sock, server_hostname="127.0.0.1")

    def curl(self, *args: str, login: str | None = None, password: str = PW,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``curl -k -sS`` with the given arguments (paths relative to the gateway's URL)."""
        argv = [need("curl"), "-k", "-sS", "--max-time", str(int(timeout))]
        if login:
            argv += ["-u", f"{login}:{password}"]
        argv += [a if not a.startswith("/") else self.url + a for a in args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10)

    def ssh_env(self, password: str = PW) -> dict[str, str]:
        """Environment that makes OpenSSH clients answer password prompts with ``password``."""
        if self._askpass is None:
            self._askpass = self.base / "askpass.sh"
            self._askpass.write_text('#!/bin/sh\ncat "$LUMANOX_TEST_PW_FILE"\n')
            self._askpass.chmod(0o700)
        digest = hashlib.sha256(password.encode()).hexdigest()[:10]
        pw_file = self.base / f"pw-{digest}"
        pw_file.write_text(password)
        env = dict(os.environ)
        env.update(SSH_ASKPASS=str(self._askpass), SSH_ASKPASS_REQUIRE="force",
                   DISPLAY=env.get("DISPLAY", ":0"), LUMANOX_TEST_PW_FILE=str(pw_file))
        return env

    def sftp_batch(self, login: str, commands: str, *, password: str = PW,
                   opts: list[str] | None = None, cwd: Path | None = None,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """OpenSSH ``sftp -b -`` with password login (``opts`` replaces the auth options)."""
        argv = [need("sftp"), *(SSH_PASSWORD_OPTS if opts is None else opts), "-P",
                str(self.sftp_port), "-b", "-", f"{login}@127.0.0.1"]
        return subprocess.run(argv, input=commands, text=True, capture_output=True,
                              env=self.ssh_env(password), cwd=cwd, timeout=timeout,
                              start_new_session=True)

    def scp(self, *paths: str, legacy: bool = False, password: str = PW,
            opts: list[str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """OpenSSH ``scp`` (``legacy``: the old scp protocol, ``-O``)."""
        argv = [need("scp"), *(SSH_PASSWORD_OPTS if opts is None else opts), "-P",
                str(self.sftp_port), *(["-O"] if legacy else []), *paths]
        return subprocess.run(argv, text=True, capture_output=True,
                              env=self.ssh_env(password), timeout=timeout,
                              start_new_session=True)

    def remote(self, login: str, path: str = "") -> str:
        return f"{login}@127.0.0.1:{path}"

    def paramiko_sftp(self, login: str, password: str = PW):  # type: ignore[no-untyped-def]
        """A paramiko ``(SSHClient, SFTPClient)`` logged in with a password."""
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
        client.connect("127.0.0.1", port=self.sftp_port, username=login, password=password,
                       look_for_keys=False, allow_agent=False, timeout=20)
        return client, client.open_sftp()

    # --- life cycle -----------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
        env.update(LUMANOX_CONFIG=str(self.config_path), PYTHONPATH=str(ROOT))
        out = self.config_path.with_suffix(".out").open("w")
        err = self.config_path.with_suffix(".err").open("w")
        with out, err:
            self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env,
                                         text=True, stdout=out, stderr=err,
                                         start_new_session=True)

        def alive() -> None:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early: {self.output()[-3000:]}")

        wait_port(self.webdav_port, timeout, alive)
        wait_port(self.sftp_port, timeout, alive)

    def stop(self) -> None:
        stop_process(self.proc)


def prepare_gateway(base: Path, setup: Callable[[Core], None] | None = None, *,
                    webdav_extra: str = "", sftp_extra: str = "", policy_extra: str = "",
                    extra: str = "") -> SecGateway:
    """Write the config, keys and certificates, run ``setup(core)``; nothing started yet."""
    base.mkdir(parents=True, exist_ok=True)
    wport, sport = free_port(), free_port()
    cfg_path = base / "gateway.toml"
    cfg_path.write_text(_config_text(base, wport, sport, webdav_extra=webdav_extra,
                                     sftp_extra=sftp_extra, policy_extra=policy_extra,
                                     extra=extra))
    cfg = load_config(cfg_path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(cfg.master_key_file)
    ensure_tls_certificate(cfg.path(cfg.tls.cert_file), cfg.path(cfg.tls.key_file))
    ensure_ssh_host_keys([cfg.path(p) for p in cfg.sftp.host_keys])
    with Core.open(cfg) as core:
        if setup is not None:
            setup(core)
    return SecGateway(base, cfg_path, wport, sport)


def standard_cast(core: Core) -> None:
    """Tenant ``acme`` (every protocol) with ``alice`` (full rights) and ``bob``."""
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password=PW)
    admin.create_user(core, "acme", "bob", password=PW)


@pytest.fixture
def make_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SecGateway]]:
    """``make_gateway(setup, **config_extras)`` -> a started SecGateway, stopped after the test."""
    started: list[SecGateway] = []

    def make(setup: Callable[[Core], None] | None = standard_cast, **extras: str) -> SecGateway:
        gw = prepare_gateway(tmp_path_factory.mktemp("secgw"), setup, **extras)
        started.append(gw)
        gw.start()
        return gw

    try:
        yield make
    finally:
        for gw in started:
            gw.stop()


@contextlib.contextmanager
def started_gateway(base: Path, setup: Callable[[Core], None] | None = standard_cast,
                    **extras: str) -> Iterator[SecGateway]:
    """A gateway prepared in ``base`` and running until the block ends."""
    gw = prepare_gateway(base, setup, **extras)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def secgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecGateway]:
    """One gateway with the standard cast for a whole test module."""
    with started_gateway(tmp_path_factory.mktemp("secgw-mod")) as gw:
        yield gw
