"""A real ``serve`` (2 WebDAV worker processes over TLS + 1 SFTP worker) on 127.0.0.1 for
the metrics tests, one per module; clients are curl, OpenSSH sftp and paramiko. Besides
the default blob store it has a second named one, ``second`` (``[stores.second]``)."""

from __future__ import annotations

import json
import os
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
from gateway.cli.setup import ensure_ssh_host_keys, ensure_tls_certificate
from gateway.config import load_config
from gateway.core import Core
from gateway.keyring import create_master_key_file
from tests.gateway_toml import write_gateway_toml

ROOT = Path(__file__).resolve().parents[2]
PW = "Metrics-pw-9-horse"
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=no", "-o", "ConnectTimeout=20",
            "-o", "PreferredAuthentications=password,keyboard-interactive",
            "-o", "PubkeyAuthentication=no"]


def write_config(base: Path, *, enabled: bool = True, webdav_workers: int = 2) -> Path:
    return write_gateway_toml(base, free_port(), free_port(), webdav_workers=webdav_workers,
                              sections={"webdav": "threads = 8"}, extra=f"""
[metrics]
enabled = {"true" if enabled else "false"}
[stores.second]
backend = "local"
region = "local"
path = "blobs-second"
""")


def cli_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LUMANOX_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(LUMANOX_CONFIG=str(config), PYTHONPATH=str(ROOT))
    return env


@dataclass
class Served:
    base: Path
    config: Path
    proc: subprocess.Popen[str]

    @property
    def cfg(self) -> Any:
        return load_config(self.config)

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([sys.executable, "-m", "gateway", *args], env=cli_env(self.config),
                           capture_output=True, text=True, timeout=120, cwd=self.base)
        if ok:
            assert p.returncode == 0, f"{args}: {p.returncode}: {p.stderr}"
        return p

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of ``lumanox-gateway metrics`` (parsed from the text exposition)."""
        from prometheus_client.parser import text_string_to_metric_families

        out = {}
        for family in text_string_to_metric_families(self.cli("metrics").stdout):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples ``name`` whose labels include ``labels``."""
        return sum(v for (n, ls), v in self.samples().items()
                   if n == name and set(labels.items()) <= set(ls))

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json").stdout)

    def curl(self, *args: str) -> subprocess.CompletedProcess[str]:
        url = f"https://127.0.0.1:{self.cfg.webdav.port}"
        return subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                               *[a.replace("URL", url) for a in args]],
                              capture_output=True, text=True, timeout=60)

    def sftp_batch(self, login: str, commands: str, cwd: Path) -> None:
        askpass = self.base / "askpass.sh"
        env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force",
                   DISPLAY=":0")
        p = subprocess.run(["sftp", *SSH_OPTS, "-P", str(self.cfg.sftp.port), "-b", "-",
                            f"{login}@127.0.0.1"], input=commands, text=True,
                           capture_output=True, env=env, cwd=cwd, timeout=120,
                           start_new_session=True)
        assert p.returncode == 0, p.stderr

    def paramiko(self, login: str) -> Any:
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
        client.connect("127.0.0.1", self.cfg.sftp.port, username=login, password=PW,
                       allow_agent=False, look_for_keys=False, timeout=20)
        return client

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def prepare(base: Path, **config: Any) -> Path:
    """Config, keys, certificates, tenant ``acme`` with users alice and bob."""
    path = write_config(base, **config)
    cfg = load_config(path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(cfg.master_key_file)
    ensure_tls_certificate(cfg.path(cfg.tls.cert_file), cfg.path(cfg.tls.key_file))
    ensure_ssh_host_keys([cfg.path(p) for p in cfg.sftp.host_keys])
    with Core.open(cfg) as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice", password=PW)
        admin.create_user(core, "acme", "bob", password=PW)
    askpass = base / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{PW}'\n")
    askpass.chmod(0o700)
    return path


def serve(base: Path, **config: Any) -> Served:
    path = prepare(base, **config)
    out = (base / "serve.out").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=cli_env(path),
                            stdout=out, stderr=subprocess.STDOUT, text=True, cwd=base,
                            start_new_session=True)
    served = Served(base, path, proc)
    deadline = time.monotonic() + 90
    while "ready" not in (base / "serve.out").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"serve did not start: {(base / 'serve.out').read_text()}")
        time.sleep(0.1)
    return served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = serve(tmp_path_factory.mktemp("served"))
    try:
        yield s
    finally:
        s.stop()


def wait_for(pred: Any, timeout: float = 20.0) -> Any:
    """Poll ``pred`` until it returns a truthy value (or the time is up: its last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
