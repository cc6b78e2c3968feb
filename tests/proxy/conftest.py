"""A real ``serve`` (WebDAV over TLS + SFTP, PROXY protocol on) behind a real HAProxy
started from ``conf/examples/haproxy.cfg`` (the file docs/deployment.md shows).

Tenant ``acme`` (webdav, sftp), user ``alice@acme``. Clients connect from several
127.0.0.x source addresses; HAProxy connects to the gateway from 127.0.0.1, the only
trusted load balancer address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import localnet
import pytest
from localnet import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "conf" / "examples" / "haproxy.cfg"
PASSWORD = "alice-secret-pw-1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found:
        return found
    reason = "haproxy is not installed (scripts/install-system-deps.sh)"
    if IN_CI:
        pytest.fail(f"CI requires {reason}")
    pytest.skip(reason)
    raise AssertionError


@dataclass
class Stack:
    base: Path
    env: dict[str, str]
    webdav: int  # the gateway node's own ports
    sftp: int
    lb_webdav: int  # HAProxy's (send-proxy-v2)
    lb_sftp: int
    proc: subprocess.Popen[str]
    haproxies: list[subprocess.Popen[str]]

    def cli(self, *args: str, stdin: str | None = None,
            ok: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([sys.executable, "-m", "gateway", *args], env=self.env,
                           cwd=self.base, input=stdin, capture_output=True, text=True,
                           timeout=120)
        if ok:
            assert p.returncode == 0, f"{args}: {p.stderr}"
        return p

    def events(self, **filters: str) -> list[dict[str, Any]]:
        args = [f"--{k}={v}" for k, v in filters.items()]
        out = self.cli("audit", "query", "--tenant", "acme", *args, "--limit", "1000",
                       "--format", "json").stdout
        data = json.loads(out)
        return data if isinstance(data, list) else data.get("events", data.get("rows", []))

    def haproxy(self, version: int = 2) -> tuple[int, int]:
        """Start another HAProxy from the example config (v1: ``send-proxy``); its ports."""
        text = EXAMPLE.read_text(encoding="utf-8")
        if version == 1:
            text = text.replace("send-proxy-v2", "send-proxy")
        cfg = self.base / f"haproxy-{len(self.haproxies)}.cfg"
        cfg.write_text(text, encoding="utf-8")
        lb_webdav, lb_sftp = free_port(), free_port()
        env = {**os.environ,
               "LUMANOX_LB_WEBDAV": f"127.0.0.1:{lb_webdav}",
               "LUMANOX_LB_SFTP": f"127.0.0.1:{lb_sftp}",
               # one node serves both server lines here (two nodes need PostgreSQL + S3)
               "LUMANOX_NODE1_WEBDAV": f"127.0.0.1:{self.webdav}",
               "LUMANOX_NODE2_WEBDAV": f"127.0.0.1:{self.webdav}",
               "LUMANOX_NODE1_SFTP": f"127.0.0.1:{self.sftp}",
               "LUMANOX_NODE2_SFTP": f"127.0.0.1:{self.sftp}"}
        proc = subprocess.Popen([haproxy_binary(), "-db", "-f", str(cfg)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.haproxies.append(proc)

        def alive() -> None:
            if proc.poll() is not None:
                raise AssertionError(f"haproxy exited: {proc.stderr.read() if proc.stderr else ''}")

        localnet.wait_port(lb_webdav, 30, alive)
        localnet.wait_port(lb_sftp, 30, alive)
        return lb_webdav, lb_sftp


def write_config(base: Path, webdav: int, sftp: int) -> Path:
    cfg = base / "gateway.toml"
    cfg.write_text(f"""
[gateway]
data_dir = "var"
[audit]
log = "off"
batch_max_delay_ms = 2
[tls]
cert_file = "certs/gw.crt"
key_file = "certs/gw.key"
[policy]
defender_max_score = 3
credential_cache_ttl_s = 0
[webdav]
handshake_timeout_s = 2
port = {webdav}
workers = 1
threads = 8
proxy_protocol = true
proxy_trusted = ["127.0.0.1/32"]
[sftp]
port = {sftp}
workers = 1
host_keys = ["certs/ssh_host_ed25519_key", "certs/ssh_host_ecdsa_key"]
proxy_protocol = true
proxy_trusted = ["127.0.0.1/32"]
""", encoding="utf-8")
    return cfg


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    haproxy_binary()
    base = tmp_path_factory.mktemp("proxied")
    webdav, sftp = free_port(), free_port()
    cfg = write_config(base, webdav, sftp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env.update(LUMANOX_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
    run = [sys.executable, "-m", "gateway"]
    for args, stdin in ((["init"], None),
                        (["tenant", "create", "acme", "--protocols", "sftp,webdav"], None),
                        (["user", "create", "alice@acme", "--password-stdin"], PASSWORD + "\n")):
        subprocess.run([*run, *args], env=env, cwd=base, input=stdin, check=True,
                       capture_output=True, text=True, timeout=120)
    log = (base / "serve.log").open("w")  # a file: a full pipe would block the gateway
    proc = subprocess.Popen([*run, "serve"], env=env, cwd=base, text=True,
                            stdout=log, stderr=subprocess.STDOUT)
    s = Stack(base, env, webdav, sftp, 0, 0, proc, [])
    try:
        def alive() -> None:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {(base / 'serve.log').read_text()}")

        # not localnet.wait_port: a connection without a header would be a refusal
        deadline = time.monotonic() + 60
        while "ready (" not in (base / "serve.log").read_text():
            alive()
            assert time.monotonic() < deadline, "serve did not get ready"
            time.sleep(0.1)
        s.lb_webdav, s.lb_sftp = s.haproxy(2)
        yield s
    finally:
        for hp in s.haproxies:
            hp.terminate()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = -1
        log.close()
        for hp in s.haproxies:
            try:
                hp.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hp.kill()
    assert code == 0, f"serve did not stop cleanly: {(base / 'serve.log').read_text()}"


def connect_from(source: str, port: int) -> socket.socket:
    """A TCP connection to 127.0.0.1:``port`` from the loopback address ``source``."""
    return socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
