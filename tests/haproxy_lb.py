"""A real HAProxy from the shipped ``conf/examples/haproxy.cfg`` and clients that connect
from chosen 127.0.0.x source addresses (test support for tests/proxy and tests/cluster).

HAProxy connects to the nodes from 127.0.0.1, which the nodes trust as the load balancer;
clients use other loopback addresses, so the PROXY header is the only way a node learns
who the client is.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from gateway.proxyproto import V2_SIGNATURE
from tests.localnet import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "conf" / "examples" / "haproxy.cfg"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: the load balancer's address as the nodes see it (their ``proxy_trusted``)
LB_ADDRESS = "127.0.0.1"


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
class Balancer:
    """One running HAProxy: where clients connect."""

    webdav: int
    sftp: int
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_haproxy(workdir: Path, nodes: Sequence[tuple[int, int]], version: int = 2,
                  ) -> Balancer:
    """HAProxy from the example config in front of ``nodes`` ((webdav, sftp) ports of
    ``node1`` and ``node2``; one node may stand for both); ``version`` 1: ``send-proxy``."""
    (w1, s1), (w2, s2) = nodes
    text = EXAMPLE.read_text(encoding="utf-8")
    if version == 1:
        text = text.replace("send-proxy-v2", "send-proxy")
    cfg = workdir / f"haproxy-{free_port()}.cfg"
    cfg.write_text(text, encoding="utf-8")
    lb_webdav, lb_sftp = free_port(), free_port()
    env = {**os.environ,
           "LUMANOX_LB_WEBDAV": f"127.0.0.1:{lb_webdav}",
           "LUMANOX_LB_SFTP": f"127.0.0.1:{lb_sftp}",
           "LUMANOX_NODE1_WEBDAV": f"127.0.0.1:{w1}", "LUMANOX_NODE1_SFTP": f"127.0.0.1:{s1}",
           "LUMANOX_NODE2_WEBDAV": f"127.0.0.1:{w2}", "LUMANOX_NODE2_SFTP": f"127.0.0.1:{s2}"}
    proc = subprocess.Popen([haproxy_binary(), "-db", "-f", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lb = Balancer(lb_webdav, lb_sftp, proc)

    def alive() -> None:
        if proc.poll() is not None:
            raise AssertionError(f"haproxy exited: {proc.stderr.read() if proc.stderr else ''}")

    try:
        wait_port(lb_webdav, 30, alive)
        wait_port(lb_sftp, 30, alive)
    except BaseException:
        lb.stop()
        raise
    return lb


def connect_from(source: str, port: int) -> socket.socket:
    """A TCP connection to 127.0.0.1:``port`` from the loopback address ``source``."""
    return socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))


def closed_without_answer(sock: socket.socket, send: bytes) -> bool:
    """The server closes ``sock`` without a byte of TLS or SSH after ``send``."""
    with sock:
        sock.sendall(send)
        try:
            return sock.recv(4096) == b""
        except ConnectionResetError:
            return True


def proxy_v2(src: str, dst_port: int) -> bytes:
    """A PROXY v2 header (TCP over IPv4) claiming the client ``src``."""
    body = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 1234,
                                                                               dst_port)
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(body)) + body


def curl_from(port: int, source: str, *args: str, user: str, password: str,
              path: str = "/", out: Path | None = None) -> str:
    """curl from ``source`` to https://127.0.0.1:``port``/``path``: the HTTP status, or
    ``fail:<exit code>`` when no HTTP answer came; the body goes to ``out`` if given."""
    p = subprocess.run(["curl", "-sk", "--interface", source, "-o", str(out or os.devnull),
                        "-w", "%{http_code}", "--max-time", "20", "-u", f"{user}:{password}",
                        *args, f"https://127.0.0.1:{port}{path}"], capture_output=True,
                       text=True, timeout=60)
    return p.stdout.strip() if p.returncode == 0 else f"fail:{p.returncode}"


@contextmanager
def sftp_from(port: int, source: str, user: str, password: str,
              ) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session (paramiko) to 127.0.0.1:``port`` from ``source``."""
    transport = paramiko.Transport(connect_from(source, port))
    try:
        transport.connect(username=user, password=password)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        with sftp:
            yield sftp
    finally:
        transport.close()
