"""A real ``lumanox-gateway serve`` (WebDAV + SFTP) in a temp folder, for the benchmarks that
need the whole process tree: ``count_statements.py`` and ``bench_memory.py``.

``start_serve`` writes a config with only the ports, paths and worker count set (every other
setting is the default), creates tenant ``bench`` with user ``bench`` (password and SSH key),
starts ``serve`` and waits for its ready line. Clients: ``put``/``get`` (WebDAV over HTTPS,
keep-alive) and ``sftp_put`` (asyncssh).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # test support: localnet
from localnet import free_port  # noqa: E402 - after the path insert

PASSWORD = "bench-password-1"


@dataclass
class ServeRun:
    """A running ``serve``: its process, ports and the bench user's credentials."""

    proc: subprocess.Popen[bytes]
    base: Path
    webdav_port: int
    sftp_port: int
    client_key: Path
    config: Path
    login: str = "bench@bench"
    _http: http.client.HTTPSConnection | None = field(default=None, repr=False)

    def http(self) -> http.client.HTTPSConnection:
        """One keep-alive HTTPS connection (certificate not checked: loopback bench)."""
        if self._http is None:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            self._http = http.client.HTTPSConnection("127.0.0.1", self.webdav_port,
                                                     context=ctx, timeout=30)
        return self._http

    def auth_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.login}:{PASSWORD}".encode()).decode()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        c = self.http()
        c.request(method, path, body=body,
                  headers={"Authorization": self.auth_header(), **(headers or {})})
        resp = c.getresponse()
        return resp.status, resp.read()

    async def sftp_put(self, items: list[tuple[str, bytes]],
                       between: Callable[[], object] | None = None) -> None:
        """Write each (path, data) over one SFTP session (open, write, close per file);
        ``between`` runs after each file."""
        import asyncssh

        async with asyncssh.connect("127.0.0.1", self.sftp_port, username=self.login,
                                    client_keys=[str(self.client_key)],
                                    known_hosts=None) as conn, \
                conn.start_sftp_client() as sftp:
            for path, data in items:
                async with sftp.open(path, "wb") as f:
                    await f.write(data)
                if between is not None:
                    between()

    def sftp_put_sync(self, items: list[tuple[str, bytes]],
                      between: Callable[[], object] | None = None) -> None:
        asyncio.run(self.sftp_put(items, between))

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def prepare_gateway(base: Path, sections: str, key_pub: str,
                    password: str | None = None):  # -> gateway.config.Config
    """A gateway configuration in ``base`` (data, audit stream and SSH host key there, plus
    ``sections``), its master key and host keys, and the user ``bench@bench`` with the
    public key ``key_pub`` (and ``password``, if given)."""
    from gateway import admin
    from gateway.cli.setup import ensure_ssh_host_keys
    from gateway.config import load_config
    from gateway.core import Core
    from gateway.keyring import create_master_key_file
    from gateway.policy import sshkeys

    base.mkdir(parents=True, exist_ok=True)
    cfg_path = base / "gateway.toml"
    cfg_path.write_text(f"""
[gateway]
data_dir = "{base / 'data'}"
[audit]
log = "{base / 'audit.jsonl'}"
{sections}host_keys = ["{base / 'k' / 'ssh_host_ed25519_key'}"]
""")
    cfg = load_config(cfg_path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(cfg.master_key_file)
    ensure_ssh_host_keys([cfg.path(p) for p in cfg.sftp.host_keys])
    with Core.open(cfg) as core:
        admin.create_tenant(core, "bench")
        admin.create_user(core, "bench", "bench", password=password)
        sshkeys.add_key(core, "bench", "bench", key_pub)
    return cfg


def start_serve(base: Path, *, workers: int | None = None,
                env: dict[str, str] | None = None) -> ServeRun:
    """Set up and start ``serve`` in ``base``; ``workers`` None keeps the default (one per
    core) for both front-ends."""
    from gateway.cli.setup import ensure_tls_certificate

    base.mkdir(parents=True, exist_ok=True)
    dav_port, sftp_port = free_port(), free_port()
    cert, key = base / "certs" / "bench.crt", base / "certs" / "bench.key"
    ensure_tls_certificate(cert, key)
    worker_line = "" if workers is None else f"workers = {workers}\n"
    client_key = base / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(client_key)],
                   check=True)
    prepare_gateway(base, f"""[tls]
cert_file = "{cert}"
key_file = "{key}"
[webdav]
port = {dav_port}
{worker_line}[sftp]
port = {sftp_port}
{worker_line}""", (base / "client_key.pub").read_text(), password=PASSWORD)
    cfg_path = base / "gateway.toml"
    exe = str(Path(sys.executable).with_name("lumanox-gateway"))
    proc = subprocess.Popen([exe, "serve"],
                            env=dict(os.environ, LUMANOX_CONFIG=str(cfg_path), **(env or {})),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for raw in proc.stdout:
        if b": ready" in raw:
            break
    else:
        raise RuntimeError(f"serve did not start (exit code {proc.wait()})")
    return ServeRun(proc, base, dav_port, sftp_port, client_key, cfg_path)
