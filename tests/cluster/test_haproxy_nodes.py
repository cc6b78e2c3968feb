"""Two real nodes behind ONE real HAProxy (the shipped example config, PROXY v2): both
nodes serve, both audit and decide on the real client address, a file written through
one node reads back identically through the other, and nobody but the load balancer may
speak (or forge) the PROXY protocol to a node.

Which node served a request is read from that node's own metrics folder: every login
(``policy.credential_cache_ttl_s = 0``: one per WebDAV request, one per SSH session) adds
one to ``lumanox_logins_total`` of the node that decided it, and of no other node.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.config import load_config
from gateway.metrics.exposition import sample_sums
from tests.cluster.conftest import PW, Cluster, running_cluster
from tests.cluster.nodes import Node
from tests.haproxy_lb import (
    LB_ADDRESS,
    Balancer,
    closed_without_answer,
    connect_from,
    curl_from,
    haproxy_binary,
    proxy_v2,
    sftp_from,
    start_haproxy,
)

pytestmark = pytest.mark.timeout(600)
T = TypeVar("T")
USER = "alice@acme"
PROPFIND = ("-X", "PROPFIND", "-H", "Depth: 0")
BEHIND_LB = f'proxy_protocol = true\nproxy_trusted = ["{LB_ADDRESS}/32"]'
SECTIONS = {"webdav": BEHIND_LB, "sftp": BEHIND_LB,
            "policy": "defender_max_score = 3\ncredential_cache_ttl_s = 0"}


@dataclass
class Behind:
    cluster: Cluster
    lb: Balancer

    @property
    def nodes(self) -> list[Node]:
        return self.cluster.nodes

    def other(self, node: Node) -> Node:
        return self.cluster.b if node is self.cluster.a else self.cluster.a


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Behind]:
    haproxy_binary()
    root = tmp_path_factory.mktemp("lbcluster")
    with running_cluster(root, SECTIONS) as cluster:
        lb = start_haproxy(root, [(n.webdav_port, n.sftp_port) for n in cluster.nodes])
        try:
            yield Behind(cluster, lb)
        finally:
            lb.stop()


def logins(node: Node) -> float:
    """Login decisions counted by ``node``'s own processes so far."""
    return sum(sample_sums(load_config(node.config), "lumanox_logins_total", "result")
               .values())


def landed(behind: Behind, request: Callable[[], T]) -> tuple[Node, T]:
    """Run ``request`` (one login) through the load balancer: the node that served it."""
    before = [logins(n) for n in behind.nodes]
    result = request()
    deadline = time.monotonic() + 10
    while True:
        served = [n for n, b in zip(behind.nodes, before, strict=True) if logins(n) > b]
        if served or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(served) == 1, f"one login, counted by {[n.name for n in served]}"
    return served[0], result


def until_on(behind: Behind, node: Node, request: Callable[[], T], tries: int = 6) -> T:
    """Repeat ``request`` until the balancer hands it to ``node``; its result there."""
    for _ in range(tries):
        got, result = landed(behind, request)
        if got is node:
            return result
    raise AssertionError(f"{tries} requests, none reached {node.name}")


def events(node: Node) -> list[dict[str, Any]]:
    """The audit log of tenant ``acme`` as ``audit query`` on ``node`` shows it."""
    out = node.cli("audit", "query", "--tenant", "acme", "--limit", "5000",
                   "--format", "json").stdout
    data = json.loads(out)
    return data if isinstance(data, list) else data.get("events", data.get("rows", []))


def curl(behind: Behind, source: str, *args: str, password: str = PW, path: str = "/",
         out: Path | None = None) -> str:
    return curl_from(behind.lb.webdav, source, *args, user=USER, password=password,
                     path=path, out=out)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_both_nodes_serve_and_audit_the_real_client(behind: Behind, tmp_path: Path) -> None:
    body = tmp_path / "body.bin"
    body.write_bytes(os.urandom(2048))
    served: dict[str, tuple[Node, str, str]] = {}  # source -> (node, protocol, path)
    for i in range(4):  # one source address per request: its events are its own
        src = f"127.0.0.{21 + i}"
        node, status = landed(behind, lambda s=src, i=i: curl(
            behind, s, "-T", str(body), path=f"/dav-{i}.bin"))
        assert status == "201", status
        served[src] = (node, "webdav", f"/dav-{i}.bin")
    for i in range(4):
        src = f"127.0.0.{31 + i}"

        def put(s: str = src, i: int = i) -> None:
            with sftp_from(behind.lb.sftp, s, USER, PW) as sftp:
                sftp.putfo(body.open("rb"), f"/sftp-{i}.bin")
                assert sftp.stat(f"/sftp-{i}.bin").st_size == 2048
        node, _ = landed(behind, put)
        served[src] = (node, "sftp", f"/sftp-{i}.bin")
    for protocol in ("webdav", "sftp"):  # both nodes served both protocols
        assert {n.name for n, p, _ in served.values() if p == protocol} == {"nodea", "nodeb"}

    log = events(behind.cluster.b)
    assert LB_ADDRESS not in {e["remote_addr"] for e in log}
    for src, (node, protocol, path) in served.items():
        mine = [e for e in log if e["remote_addr"] == src]
        assert {"login", "write"} <= {e["action"] for e in mine}, (node.name, src, mine)
        kinds = {"webdav"} if protocol == "webdav" else {"ssh", "sftp"}  # ssh: its login
        assert all(e["protocol"] in kinds and e["result"] == "ok" for e in mine), mine
        assert {e["remote_addr"] for e in log if e["path"] == path} == {src}


def test_written_through_one_node_reads_identically_through_the_other(
        behind: Behind, tmp_path: Path) -> None:
    src = tmp_path / "report.bin"
    src.write_bytes(os.urandom(200 * 1024 + 7))  # beyond the inline limit: a shared blob
    # WebDAV PUT on one node, WebDAV GET and SFTP get through the other
    writer, status = landed(behind, lambda: curl(behind, "127.0.0.41", "-T", str(src),
                                                 path="/report.bin"))
    assert status == "201"
    reader = behind.other(writer)
    got = tmp_path / "got-dav.bin"
    assert until_on(behind, reader, lambda: curl(behind, "127.0.0.42", path="/report.bin",
                                                 out=got)) == "200"
    assert sha(got) == sha(src)

    def sftp_get(name: str, dest: Path) -> None:
        with sftp_from(behind.lb.sftp, "127.0.0.43", USER, PW) as sftp:
            sftp.get(name, str(dest))
    until_on(behind, reader, lambda: sftp_get("/report.bin", tmp_path / "got-sftp.bin"))
    assert sha(tmp_path / "got-sftp.bin") == sha(src)

    # SFTP put on one node, WebDAV GET through the other
    def sftp_put() -> None:
        with sftp_from(behind.lb.sftp, "127.0.0.44", USER, PW) as sftp:
            sftp.put(str(src), "/via-sftp.bin")
    writer, _ = landed(behind, sftp_put)
    got = tmp_path / "got-back.bin"
    assert until_on(behind, behind.other(writer), lambda: curl(
        behind, "127.0.0.45", path="/via-sftp.bin", out=got)) == "200"
    assert sha(got) == sha(src)
    addrs = {e["path"]: e["remote_addr"] for e in events(behind.cluster.a)
             if e["action"] == "write"}
    assert addrs["/report.bin"] == "127.0.0.41" and addrs["/via-sftp.bin"] == "127.0.0.44"


def test_openssh_through_the_balancer(behind: Behind, tmp_path: Path) -> None:
    """OpenSSH ``sftp -o BindAddress=``: audited with its own address, whichever node."""
    sftp, sshpass = shutil.which("sftp"), shutil.which("sshpass")
    if not (sftp and sshpass):
        pytest.skip("OpenSSH sftp and sshpass are needed (scripts/install-system-deps.sh)")
    (tmp_path / "openssh.txt").write_bytes(b"from OpenSSH\n")

    def put() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sshpass, "-e", sftp, "-o", "BindAddress=127.0.0.46",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
             "-o", "BatchMode=no", "-P", str(behind.lb.sftp), "-b", "-",
             f"{USER}@127.0.0.1"], input="put openssh.txt\n", text=True,
            capture_output=True, cwd=tmp_path, env={**os.environ, "SSHPASS": PW},
            timeout=120, start_new_session=True)
    _, p = landed(behind, put)
    assert p.returncode == 0, p.stderr
    writes = {e["path"]: e["remote_addr"] for e in events(behind.cluster.a)
              if e["action"] == "write"}
    assert writes["/openssh.txt"] == "127.0.0.46"


@pytest.mark.parametrize("which", ["a", "b"])
def test_nobody_else_speaks_proxy_protocol_to_a_node(behind: Behind, which: str) -> None:
    node = behind.cluster.a if which == "a" else behind.cluster.b
    for port in (node.webdav_port, node.sftp_port):
        # a client going around the balancer with a forged header: closed before TLS/SSH
        assert closed_without_answer(connect_from("127.0.0.50", port),
                                     proxy_v2("192.0.2.1", port))
    # the balancer's own address without a header: refused too
    assert curl_from(node.webdav_port, LB_ADDRESS, user=USER, password=PW).startswith("fail:")
    assert closed_without_answer(connect_from(LB_ADDRESS, node.sftp_port),
                                 b"SSH-2.0-OpenSSH_9.2\r\n")
    # while the same node answers through the balancer
    assert until_on(behind, node, lambda: curl(behind, "127.0.0.51", *PROPFIND)) == "207"
    assert "192.0.2.1" not in {e["remote_addr"] for e in events(node)}


def test_a_network_rule_set_once_applies_on_both_nodes(behind: Behind) -> None:
    """``policy set --networks``: decided on the real address by whichever node serves."""
    behind.cluster.a.cli("policy", "set", "acme", "--networks", "127.0.0.70/32")
    try:
        for node in behind.nodes:
            assert until_on(behind, node, lambda: curl(behind, "127.0.0.70", *PROPFIND)) \
                == "207", node.name
            assert until_on(behind, node, lambda: curl(behind, "127.0.0.71", *PROPFIND)) \
                in ("401", "403"), node.name
    finally:
        behind.cluster.a.cli("policy", "set", "acme", "--networks", "any")
    decided = [e for e in events(behind.cluster.b) if e["action"] == "login"
              and e["remote_addr"] in ("127.0.0.70", "127.0.0.71")]
    assert {(e["remote_addr"], e["result"]) for e in decided} == {
        ("127.0.0.70", "ok"), ("127.0.0.71", "denied")}


def test_a_ban_of_the_real_client_holds_on_both_nodes(behind: Behind) -> None:
    """Failed logins of 127.0.0.60 through the balancer, counted on both nodes, ban
    127.0.0.60 (not the balancer): refused by both, while 127.0.0.61 is served by both."""
    failed_on = set()
    for _ in range(4):  # defender_max_score = 3: a score shared by the nodes
        node, status = landed(behind, lambda: curl(behind, "127.0.0.60", *PROPFIND,
                                                   password="wrong-password"))
        assert status in ("401", "403")
        failed_on.add(node.name)
    assert failed_on == {"nodea", "nodeb"}
    bans = behind.cluster.a.cli("defender", "list", "--json").stdout
    assert "127.0.0.60" in bans and f'"{LB_ADDRESS}"' not in bans
    for node in behind.nodes:
        assert until_on(behind, node, lambda: curl(behind, "127.0.0.60", *PROPFIND)) \
            in ("401", "403"), node.name
        assert until_on(behind, node, lambda: curl(behind, "127.0.0.61", *PROPFIND)) \
            == "207", node.name
    denied = [e for e in events(behind.cluster.b) if e["action"] == "login"
              and e["result"] == "denied" and e["remote_addr"] != "127.0.0.71"]
    assert {e["remote_addr"] for e in denied} == {"127.0.0.60"}
    assert any("banned" in (e["reason"] or "") for e in denied), denied
