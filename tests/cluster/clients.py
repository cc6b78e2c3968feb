"""Real clients of a two-node cluster: curl (WebDAV) and paramiko (SFTP), trusting only
the cluster's shared TLS certificate and SSH host keys."""

from __future__ import annotations

import base64
import subprocess
import time

import paramiko

from tests.cluster.conftest import PW
from tests.cluster.nodes import Node


def curl(*args: str, user: str = "alice@acme", password: str = PW,
         ) -> subprocess.CompletedProcess[str]:
    """curl -k with Basic auth; stdout ends with the HTTP status (``-w``)."""
    return subprocess.run(["curl", "-sk", "-u", f"{user}:{password}", "-o", "/dev/null",
                           "-w", "%{http_code}", *args], capture_output=True, text=True,
                          timeout=120)


def wait_for(check, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    """True once ``check()`` is true (polled), False after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def ssh_client(node: Node) -> paramiko.SSHClient:
    """A client that trusts only the cluster's shared host keys (every node shows the
    same ones: a load balancer may hand the client to any node)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    for pub in sorted((node.base.parent / "shared" / "certs").glob("ssh_host_*_key.pub")):
        kind, b64 = pub.read_text().split()[:2]
        client.get_host_keys().add(f"[127.0.0.1]:{node.sftp_port}", kind,
                                   paramiko.PKey.from_type_string(kind, base64.b64decode(b64)))
    return client


def sftp(node: Node, user: str = "alice@acme", password: str = PW,
         ) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
    client = ssh_client(node)
    client.connect("127.0.0.1", port=node.sftp_port, username=user, password=password,
                   look_for_keys=False, allow_agent=False, timeout=30)
    return client, client.open_sftp()
