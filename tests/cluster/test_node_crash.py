"""A node that crashes as a whole (supervisor and workers SIGKILLed: a machine gone) frees
its session slots once its heartbeat in the catalog is stale, through the other node;
a live node's slots are never freed that way (real nodes over PostgreSQL, paramiko)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import paramiko
import pytest

from tests.cluster.clients import sftp
from tests.cluster.conftest import Cluster, running_cluster
from tests.cluster.nodes import Node

pytestmark = pytest.mark.timeout(300)

HEARTBEAT_S = 1
STALE_S = 6


@pytest.fixture(scope="module")
def crashing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two nodes that heartbeat every second and call a node dead after 6 s of silence."""
    with running_cluster(tmp_path_factory.mktemp("crash"), {
            "gateway": f"node_heartbeat_s = {HEARTBEAT_S}\nnode_stale_after_s = {STALE_S}"}) as c:
        yield c


def sam_admitted(node: Node) -> bool:
    """Whether ``sam`` (one session at most) may log in through ``node`` now."""
    try:
        client, s = sftp(node, "sam@acme")
    except paramiko.SSHException:
        return False
    try:
        s.listdir("/")
    finally:
        client.close()
    return True


def nodes_seen(node: Node) -> dict[str, dict]:
    return {n["name"]: n for n in json.loads(node.cli("status", "--json").stdout)["nodes"]}


def test_crashed_node_frees_its_session_slots_once_its_heartbeat_is_stale(
        crashing: Cluster) -> None:
    a, b = crashing.a, crashing.b
    held, s = sftp(a, "sam@acme")
    s.listdir("/")
    # a live node keeps its slot, however long: well past the grace, b still counts it
    time.sleep(STALE_S + 2 * HEARTBEAT_S)
    assert not sam_admitted(b)
    seen = nodes_seen(b)
    assert {n: seen[n]["stale"] for n in ("nodea", "nodeb")} == \
        {"nodea": False, "nodeb": False}
    assert seen["nodea"]["pid"] == a.proc.pid  # type: ignore[union-attr]
    assert s.listdir("/") is not None  # the held session still works

    a.crash()
    crashed = time.monotonic()
    held.close()
    # nobody of node a is left to free the slot: refused while a's heartbeat is recent
    assert not sam_admitted(b)
    while not sam_admitted(b):
        assert time.monotonic() - crashed < STALE_S + 20, "the dead node's slot was kept"
        time.sleep(0.5)
    waited = time.monotonic() - crashed
    # freed by the stale heartbeat (not at once), within the grace plus a few beats
    assert waited >= STALE_S - 3 * HEARTBEAT_S, waited
    seen = nodes_seen(b)
    assert seen["nodea"]["stale"] is True and seen["nodeb"]["stale"] is False
    assert "nodea: last heartbeat" in b.cli("status").stdout
