"""Node heartbeats in the catalog (table ``gateway_nodes``): each ``serve`` supervisor
refreshes its node's row (``beat``); a node whose row is older than the stale grace is
taken for dead (``stale_nodes``), so other nodes free its session slots.

Times are the catalog's own clock on PostgreSQL (``now()``), so the nodes' clocks need
not agree; SQLite serves one machine, whose clock is the process's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update

from gateway.catalog.tables import gateway_nodes


def catalog_now(conn: Connection) -> Any:
    """The current time as the catalog sees it: an SQL expression on PostgreSQL (the
    transaction's start), this process's clock on SQLite."""
    if conn.dialect.name == "postgresql":
        return func.now()
    return datetime.now(UTC)


def beat(conn: Connection, name: str, pid: int, started_at: datetime) -> None:
    """Record that node ``name`` (its supervisor ``pid``, started at ``started_at``) lives."""
    key = name[:128]
    values = {"pid": pid, "started_at": started_at, "last_seen": catalog_now(conn)}
    done = conn.execute(update(gateway_nodes).where(gateway_nodes.c.name == key)
                        .values(**values)).rowcount
    if not done:
        conn.execute(insert(gateway_nodes).values(name=key, **values))


def stale_nodes(conn: Connection, stale_after_s: int, *, but: str) -> Select[Any]:
    """A subquery: names of the nodes (``but`` this one) whose last heartbeat is older than
    ``stale_after_s``. A node that never heartbeat (no row) is not in it."""
    cutoff = catalog_now(conn) - timedelta(seconds=stale_after_s)
    return select(gateway_nodes.c.name).where(gateway_nodes.c.last_seen < cutoff,
                                              gateway_nodes.c.name != but[:128])


def node_list(conn: Connection, stale_after_s: int) -> list[dict[str, Any]]:
    """Every node that ever heartbeat: name, supervisor pid, started, last seen, seconds
    since then and whether that makes it stale (``stale_after_s`` 0: never)."""
    now = catalog_now(conn)
    if not isinstance(now, datetime):
        now = conn.execute(select(now)).scalar_one()
    out = []
    for r in conn.execute(select(gateway_nodes).order_by(gateway_nodes.c.name)):
        seen = r.last_seen if r.last_seen.tzinfo else r.last_seen.replace(tzinfo=UTC)
        age = max(0.0, (now - seen).total_seconds())
        out.append({"name": r.name, "pid": r.pid, "started_at": _iso(r.started_at),
                    "last_seen": _iso(seen), "age_s": round(age, 1),
                    "stale": bool(stale_after_s) and age > stale_after_s})
    return out


def _iso(value: datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")
