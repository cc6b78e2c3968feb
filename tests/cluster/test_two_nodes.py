"""Two nodes act as one gateway: files, WebDAV locks, session limits and defender bans
written through one node hold on the other (real clients: curl, paramiko)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from tests.cluster.conftest import PW, Cluster
from tests.cluster.nodes import Node

pytestmark = pytest.mark.timeout(600)


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


def test_upload_over_webdav_to_a_downloads_over_sftp_from_b(cluster: Cluster,
                                                             tmp_path: Path) -> None:
    src = tmp_path / "report.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # beyond the inline limit: a blob
    small = tmp_path / "small.txt"
    small.write_bytes(b"inline in the catalog row\n" * 10)
    for f in (src, small):
        assert curl("-T", str(f), f"{cluster.a.url}/{f.name}").stdout == "201"
    client, s = sftp(cluster.b)
    try:
        for f in (src, small):
            got = tmp_path / f"{f.name}.from-b"
            s.get(f"/{f.name}", str(got))
            assert hashlib.sha256(got.read_bytes()).hexdigest() == \
                hashlib.sha256(f.read_bytes()).hexdigest()
    finally:
        client.close()


LOCK_BODY = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
             '</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>a</D:owner>'
             '</D:lockinfo>')


def test_lock_through_a_blocks_writes_through_b(cluster: Cluster, tmp_path: Path) -> None:
    doc = tmp_path / "locked.txt"
    doc.write_bytes(b"version 1\n")
    assert curl("-T", str(doc), f"{cluster.a.url}/locked.txt").stdout == "201"
    lock = subprocess.run(
        ["curl", "-sk", "-u", f"alice@acme:{PW}", "-X", "LOCK", "-H", "Timeout: Second-600",
         "-H", "Content-Type: application/xml", "--data", LOCK_BODY, "-D", "-",
         f"{cluster.a.url}/locked.txt"], capture_output=True, text=True, timeout=60)
    assert " 200 " in lock.stdout.splitlines()[0], lock.stdout
    token = re.search(r"(?im)^lock-token:\s*<([^>]+)>", lock.stdout).group(1)  # type: ignore[union-attr]
    doc.write_bytes(b"version 2 from node b\n")
    # node b: a PUT without the token is refused with 423 Locked
    assert curl("-T", str(doc), f"{cluster.b.url}/locked.txt").stdout == "423"
    # node b: an SFTP write is refused too
    client, s = sftp(cluster.b)
    try:
        with pytest.raises(PermissionError), s.open("/locked.txt", "wb") as f:
            f.write(b"sftp through b\n")
        with s.open("/locked.txt", "rb") as f:
            assert f.read() == b"version 1\n"
    finally:
        client.close()
    # with the token, node b accepts the PUT (the lock is the same row for both nodes)
    assert curl("-T", str(doc), "-H", f"If: (<{token}>)",
                f"{cluster.b.url}/locked.txt").stdout in ("201", "204")
    assert curl("-X", "UNLOCK", "-H", f"Lock-Token: <{token}>",
                f"{cluster.b.url}/locked.txt").stdout == "204"


def test_session_limit_counts_sessions_on_both_nodes(cluster: Cluster) -> None:
    first = sftp(cluster.a, "sam@acme")
    try:
        first[1].listdir("/")
        with pytest.raises(paramiko.SSHException):
            second = sftp(cluster.b, "sam@acme")
            second[0].close()
    finally:
        first[0].close()
    # the slot is free again once the session on node a ended
    for _ in range(50):
        try:
            again = sftp(cluster.b, "sam@acme")
        except paramiko.SSHException:
            time.sleep(0.2)
            continue
        again[0].close()
        break
    else:
        pytest.fail("the slot of the closed session was never freed")
    events = cluster.b.cli("audit", "query", "--tenant", "acme", "--result", "denied",
                           "--format", "json").stdout
    assert "user session limit 1 reached" in events


def test_address_banned_on_a_is_banned_on_b(cluster: Cluster) -> None:
    # a fresh loopback source address, so the other tests' client address stays usable
    source = "127.0.0.77"
    # node b has verified alice's password from there (its credential cache holds it)
    assert curl("--interface", source, f"{cluster.b.url}/").stdout in ("200", "207")
    for _ in range(12):
        assert curl("--interface", source, f"{cluster.a.url}/",
                    user="mallory@acme", password="wrong").stdout == "401"
    bans = cluster.a.cli("defender", "list", "--json").stdout
    assert f"addr:{source}" in bans
    # right credentials, other node, banned address: refused (node b may answer this
    # login from its credential cache: it learns of bans within defender.BAN_SNAPSHOT_S)
    assert wait_for(lambda: curl("--interface", source, f"{cluster.b.url}/").stdout == "401")
    assert curl("--interface", source, f"{cluster.b.url}/").stdout == "401"
    client = ssh_client(cluster.b)
    sock = socket.create_connection(("127.0.0.1", cluster.b.sftp_port),
                                    source_address=(source, 0), timeout=30)
    with pytest.raises((paramiko.SSHException, EOFError, OSError)):
        client.connect("127.0.0.1", port=cluster.b.sftp_port, username="alice@acme",
                       password=PW, sock=sock, look_for_keys=False, allow_agent=False,
                       timeout=30)
    client.close()
    # the same credentials from an unbanned address work on node b
    assert curl(f"{cluster.b.url}/").stdout in ("200", "207")
    events = cluster.b.cli("audit", "query", "--result", "denied", "--format", "json").stdout
    assert "127.0.0.77" in events


def test_concurrent_uploads_through_both_nodes_keep_chain_and_quota_exact(
        cluster: Cluster) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    paths = [f"/load/f{i:03d}.bin" for i in range(50)]
    # 100 uploads: every path twice, once through each node, all at once; sizes on both
    # sides of the inline limit (64 KiB), so catalog rows and blobs both take part
    jobs = [(node, path, os.urandom(1000 + (i * 7919 + k * 104729) % 150_000))
            for i, path in enumerate(paths) for k, node in enumerate(cluster.nodes)]
    assert curl("-X", "MKCOL", f"{cluster.a.url}/load", user="uma@acme").stdout == "201"

    def put(job: tuple[Node, str, bytes]) -> int:
        node, path, body = job
        with requests.Session() as s:
            return s.put(f"{node.url}{path}", data=body, auth=("uma@acme", PW),
                         verify=False, timeout=120).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(put, jobs))
    assert all(c in (201, 204) for c in codes), codes
    client, s = sftp(cluster.b, "uma@acme")
    try:
        sizes = {a.filename: a.st_size for a in s.listdir_attr("/load")}
    finally:
        client.close()
    assert len(sizes) == 50
    # each file holds one of the two bodies sent for it, whole
    sent = {path: {len(body) for n, p, body in jobs if p == path} for path in paths}
    assert all(sizes[p.rsplit("/", 1)[1]] in sent[p] for p in paths)
    shown = cluster.a.cli("user", "show", "uma@acme", "--json").stdout
    usage = json.loads(shown)
    assert usage["used_files"] == 50
    assert usage["used_bytes"] == sum(sizes.values())
    verify = cluster.b.cli("audit", "verify", "--json", ok=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["intact"] is True
    events = cluster.a.cli("audit", "query", "--tenant", "acme", "--user", "uma",
                           "--action", "write", "--format", "json").stdout
    assert events.count('"result": "ok"') + events.count('"result":"ok"') == 100
