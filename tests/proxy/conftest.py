"""A real ``serve`` (WebDAV over TLS + SFTP, PROXY protocol on) behind a real HAProxy
started from ``conf/examples/haproxy.cfg`` (the file docs/deployment.md shows).

Tenant ``acme`` (webdav, sftp), user ``alice@acme``. Clients connect from several
127.0.0.x source addresses; HAProxy connects to the gateway from 127.0.0.1, the only
trusted load balancer address.
"""

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

from tests.gateway_toml import write_gateway_toml
from tests.haproxy_lb import Balancer, haproxy_binary, start_haproxy

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "alice-secret-pw-1"


@dataclass
class Stack:
    base: Path
    env: dict[str, str]
    webdav: int  # the gateway node's own ports
    sftp: int
    lb_webdav: int  # HAProxy's (send-proxy-v2)
    lb_sftp: int
    proc: subprocess.Popen[str]
    haproxies: list[Balancer]

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
        """Start another HAProxy from the example config (v1: ``send-proxy``); its ports.
        The one node stands behind both ``server`` lines."""
        lb = start_haproxy(self.base, [(self.webdav, self.sftp)] * 2, version)
        self.haproxies.append(lb)
        return lb.webdav, lb.sftp


PROXIED = 'proxy_protocol = true\nproxy_trusted = ["127.0.0.1/32"]'


def write_config(base: Path, webdav: int, sftp: int) -> Path:
    return write_gateway_toml(base, webdav, sftp, sections={
        "policy": "defender_max_score = 3\ncredential_cache_ttl_s = 0",
        "webdav": f"handshake_timeout_s = 2\nthreads = 8\n{PROXIED}",
        "sftp": PROXIED})


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
        for lb in s.haproxies:
            lb.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = -1
        log.close()
    assert code == 0, f"serve did not stop cleanly: {(base / 'serve.log').read_text()}"

