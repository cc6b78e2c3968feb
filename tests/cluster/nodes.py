"""Several real gateway nodes (``lumanox-gateway serve`` processes) over one catalog.

Each node has its own config and data dir (pid file, metrics dir, audit cursor, spool),
and shares with the others what a real deployment shares: the PostgreSQL catalog, the
blob store (a folder or an S3 bucket), the master key, the app-password secret, the TLS
certificate and the SSH host keys (a load balancer hands a client to any node: they must
look like one server).
Used by tests/cluster/ and bench/bench_two_nodes.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.gateway_toml import with_lines

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    name: str
    base: Path
    config: Path
    webdav_port: int
    sftp_port: int
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.webdav_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
        env.update(LUMANOX_CONFIG=str(self.config), PYTHONPATH=str(ROOT))
        return env

    def cli(self, *args: str, ok: bool = True, stdin: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``lumanox-gateway ARGS`` with this node's config."""
        p = subprocess.run([sys.executable, "-m", "gateway", *args], env=self.env(),
                           cwd=self.base, input=stdin, capture_output=True, text=True,
                           timeout=timeout)
        if ok:
            assert p.returncode == 0, f"{self.name} {args}: exit {p.returncode}: {p.stderr}"
        return p

    def start(self, timeout: float = 90) -> None:
        """Run ``serve`` and wait for its ready line."""
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"],
                                     env=self.env(), cwd=self.base, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # ``crash`` kills the group
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "ready" in line:
                return
        self.stop()
        raise AssertionError(f"node {self.name} did not start:\n{''.join(self.output)}")

    def crash(self) -> None:
        """SIGKILL the whole process group (supervisor and workers): a machine gone, with
        nobody left to free its session slots or say goodbye."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_node(root: Path, name: str, db_url: str, shared: Path, *, workers: int = 1,
               extra: str = "", sections: Mapping[str, str] | None = None,
               storage: str | None = None) -> Node:
    """The config of one node under ``root/name``; shared files live in ``shared``.

    ``sections``: more lines for sections the config has already (``webdav``, ``sftp``,
    ``policy``, ...); ``extra``: whole sections appended; ``storage``: the shared blob
    store's sections (default: the folder ``shared/blobs``)."""
    if storage is None:
        storage = f'[storage.local]\npath = "{shared / "blobs"}"'
    base = root / name
    base.mkdir(parents=True, exist_ok=True)
    wport, sport = _free_port(), _free_port()
    config = base / "gateway.toml"
    text = f"""
[gateway]
data_dir = "var"
node_name = "{name}"
[catalog]
url = "{db_url}"
{storage}
[keys]
master_key_file = "{shared / 'master.key'}"
[policy]
app_password_secret_file = "{shared / 'app-password.key'}"
[audit]
log = "off"
batch_max_delay_ms = 2
[tls]
cert_file = "{shared / 'certs/gw.crt'}"
key_file = "{shared / 'certs/gw.key'}"
[webdav]
port = {wport}
workers = {workers}
[sftp]
port = {sport}
workers = {workers}
host_keys = ["{shared / 'certs/ssh_host_ed25519_key'}", "{shared / 'certs/ssh_host_ecdsa_key'}"]
[notify]
enabled = false
{extra}
"""
    config.write_text(with_lines(text, sections), encoding="utf-8")
    return Node(name, base, config, wport, sport)


def make_cluster(root: Path, db_url: str, count: int = 2, *, workers: int = 1,
                 extra: str = "", sections: Mapping[str, str] | None = None,
                 storage: str | None = None) -> list[Node]:
    """``count`` node configs; the first runs ``init`` (catalog, key, certs, host keys)."""
    shared = root / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    nodes = [write_node(root, f"node{chr(97 + i)}", db_url, shared, workers=workers,
                        extra=extra, sections=sections, storage=storage)
             for i in range(count)]
    nodes[0].cli("init")
    return nodes
