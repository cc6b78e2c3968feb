"""The reaping rule of session slots (gateway/policy/slots.py ``reap``) with node heartbeats
(gateway/catalog/heartbeats.py): slots of a node whose heartbeat is stale go, those of a
live node, of a node that never heartbeat and this node's live processes stay."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from gateway import admin
from gateway.catalog.heartbeats import beat, node_list
from gateway.catalog.tables import auth_sessions, gateway_nodes
from gateway.core import Core
from gateway.policy.slots import reap


def _slot(conn, tenant_id: str, node: str, pid: int) -> None:  # type: ignore[no-untyped-def]
    conn.execute(insert(auth_sessions).values(
        id=f"s-{node}", tenant_id=tenant_id, user_id="u1", protocol="sftp",
        remote_addr="192.0.2.1", node=node, pid=pid, started_at=datetime.now(UTC)))


def _nodes_with_slots(core: Core) -> set[str]:
    with core.catalog.read() as conn:
        return set(conn.execute(select(auth_sessions.c.node)).scalars())


def test_stale_nodes_lose_their_slots_live_and_unknown_ones_keep_them(
        core: Core, tenant: admin.Tenant) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    with core.catalog.write() as conn:
        beat(conn, "me", os.getpid(), long_ago)
        beat(conn, "live", 4242, long_ago)  # started long ago, heartbeat now
        conn.execute(insert(gateway_nodes).values(name="crashed", pid=4343,
                                                  started_at=long_ago, last_seen=long_ago))
        for node in ("me", "live", "crashed", "never-heartbeat"):
            # a pid of this node that runs (this process): reaped only by the stale rule
            _slot(conn, tenant.id, node, os.getpid() if node == "me" else 1)
    with core.catalog.write() as conn:  # the grace turned off: nothing of other nodes goes
        reap(conn, "me", 0)
    assert _nodes_with_slots(core) == {"me", "live", "crashed", "never-heartbeat"}
    with core.catalog.write() as conn:
        reap(conn, "me", 60)
    assert _nodes_with_slots(core) == {"me", "live", "never-heartbeat"}
    with core.catalog.read() as conn:
        listed = {n["name"]: n for n in node_list(conn, 60)}
    assert {k: v["stale"] for k, v in listed.items()} == \
        {"crashed": True, "live": False, "me": False}
    assert listed["crashed"]["age_s"] >= 590 and listed["live"]["age_s"] < 60


def test_a_stale_node_never_reaps_its_own_slots_by_heartbeat(
        core: Core, tenant: admin.Tenant) -> None:
    """A node whose own row is old (its heartbeat thread lagging) keeps its live slots."""
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    with core.catalog.write() as conn:
        conn.execute(insert(gateway_nodes).values(name="me", pid=1, started_at=long_ago,
                                                  last_seen=long_ago))
        _slot(conn, tenant.id, "me", os.getpid())
    with core.catalog.write() as conn:
        reap(conn, "me", 60)
    assert _nodes_with_slots(core) == {"me"}
    with core.catalog.write() as conn:  # the next beat brings the row up to date
        beat(conn, "me", 2, long_ago)
    with core.catalog.read() as conn:
        (row,) = node_list(conn, 60)
    assert row["pid"] == 2 and not row["stale"]
