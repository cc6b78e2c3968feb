"""Two nodes act as one gateway: files, WebDAV locks, session limits and defender bans
written through one node hold on the other (real clients: curl, paramiko)."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from tests.cluster.clients import curl, sftp, ssh_client, wait_for
from tests.cluster.conftest import PW, Cluster
from tests.cluster.scenarios import concurrent_uploads_both_nodes, webdav_on_a_then_sftp_from_b

pytestmark = pytest.mark.timeout(600)


def test_upload_over_webdav_to_a_downloads_over_sftp_from_b(cluster: Cluster,
                                                             tmp_path: Path) -> None:
    webdav_on_a_then_sftp_from_b(cluster, tmp_path)


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
    concurrent_uploads_both_nodes(cluster)
