"""Fixtures: a real gateway (``python -m gateway.webdav``) on 127.0.0.1 over TLS.

One gateway (2 worker processes) serves the whole test session; tests use their own
folders. Tenants: ``acme`` (WebDAV allowed; users alice = full rights, carol = read-only,
dave = 256 KiB quota) and ``nodav`` (SFTP only; user bob).

System tools (litmus, rclone, curl, fusermount) skip the test with a visible reason when
missing, except when CI=true: then a missing tool fails the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from davclient import DavClient
from localnet import free_port

from tests.audit_stream import synced_audit_file

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[2]

PASSWORDS = {
    "alice@acme": "alice-secret-pw-1",
    "carol@acme": "carol-secret-pw-2",
    "dave@acme": "dave-secret-pw-3",
    "bob@nodav": "bob-secret-pw-4",
}


def require_tool(*names: str) -> str:
    """The path of the first tool found; skip (or fail in CI) when none is installed."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    reason = f"system tool {' / '.join(names)} is not installed (apt-get install it)"
    if IN_CI:
        pytest.fail(f"CI requires {reason}")
    pytest.skip(reason)
    raise AssertionError  # unreachable


def write_config(base: Path, port: int, *, name: str = "gateway.toml", workers: int = 2,
                 tls: bool = True) -> Path:
    path = base / name
    path.write_text(f"""
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
port = {port}
workers = {workers}
tls = {"true" if tls else "false"}
threads = 16
""", encoding="utf-8")
    return path


def init_gateway(base: Path) -> Path:
    """Data dir, key, certificate, tenants and users; returns the config path."""
    from gateway import admin
    from gateway.cli.setup import ensure_tls_certificate
    from gateway.config import load_config
    from gateway.core import Core
    from gateway.keyring import create_master_key_file

    cfg_path = write_config(base, free_port())
    cfg = load_config(cfg_path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(cfg.master_key_file)
    ensure_tls_certificate(cfg.path(cfg.tls.cert_file), cfg.path(cfg.tls.key_file))
    with Core.open(cfg) as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice", password=PASSWORDS["alice@acme"])
        admin.create_user(core, "acme", "carol", password=PASSWORDS["carol@acme"],
                          permissions='[{"prefix": "/", "perms": ["list", "read"]}]')
        admin.create_user(core, "acme", "dave", password=PASSWORDS["dave@acme"],
                          quota_bytes=256 * 1024)
        admin.create_tenant(core, "nodav", protocols=["sftp"])
        admin.create_user(core, "nodav", "bob", password=PASSWORDS["bob@nodav"])
    return cfg_path


@dataclass
class Gateway:
    config: Path
    port: int
    proc: subprocess.Popen[bytes]
    tls: bool = True
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def base(self) -> Path:
        return self.config.parent

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def audit_log(self) -> Path:
        """The audit stream, exported from the catalog up to now."""
        return synced_audit_file(self.config)

    def client(self, login: str = "alice@acme", password: str | None = None) -> DavClient:
        return DavClient("127.0.0.1", self.port, login,
                         PASSWORDS.get(login, "") if password is None else password,
                         tls=self.tls)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_gateway(config: Path, *, tls: bool = True, timeout: float = 60) -> Gateway:
    """Run ``python -m gateway.webdav`` and wait for its "listening" line."""
    from gateway.config import load_config

    port = load_config(config).webdav.port
    env = dict(os.environ, LUMANOX_CONFIG=str(config), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "gateway.webdav"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    gw = Gateway(config, port, proc, tls)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode("utf-8", "replace")
        if not line:
            break
        gw.lines.append(line)
        if "listening on" in line:
            _drain(proc)
            return gw
    gw.stop()
    raise RuntimeError("gateway did not start: " + "".join(gw.lines))


def _drain(proc: subprocess.Popen[bytes]) -> None:
    """Keep reading the server's output so that it never blocks on a full pipe."""
    import threading

    def run() -> None:
        assert proc.stdout is not None
        for _ in iter(proc.stdout.readline, b""):
            pass

    threading.Thread(target=run, daemon=True).start()


@pytest.fixture(scope="session")
def gateway_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_gateway(tmp_path_factory.mktemp("webdav-gw"))


@pytest.fixture(scope="session")
def gateway(gateway_dir: Path) -> Iterator[Gateway]:
    gw = start_gateway(gateway_dir)
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def alice(gateway: Gateway) -> DavClient:
    return gateway.client("alice@acme")


@pytest.fixture
def folder(alice: DavClient, request: pytest.FixtureRequest) -> str:
    """A fresh folder for one test."""
    name = "/t-" + request.node.name.replace("[", "-").replace("]", "")[:60]
    alice.request("DELETE", name)
    status = alice.request("MKCOL", name).status
    assert status == 201, status
    return name
