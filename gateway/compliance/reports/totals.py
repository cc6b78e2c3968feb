"""Sums over a scope, computed by the database (GROUP BY), never by loading events.

Every figure counts events; ``upload_bytes`` sums the bytes of writes and appends,
``download_bytes`` those of reads; ``failed`` counts refusals and errors (``denied``,
``error``; a ``miss`` - a lookup of a path that does not exist - is not a failure). Top
paths leave out admin actions (their ``path`` names the account or key acted on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.compliance.reports.scope import Scope, conditions

ev = audit_events.c
UPLOADS = ("write", "append")
DOWNLOADS = ("read",)
FAILED = ("denied", "error")
TOP = 10


def _sum_bytes(actions: tuple[str, ...]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((ev.action.in_(actions), ev.bytes), else_=0)), 0)


def _measures() -> list[ColumnElement[Any]]:
    return [func.count().label("events"),
            _sum_bytes(UPLOADS).label("upload_bytes"),
            _sum_bytes(DOWNLOADS).label("download_bytes"),
            func.coalesce(func.sum(case((ev.result.in_(FAILED), 1), else_=0)), 0)
            .label("failed")]


def day_of(conn: Connection) -> ColumnElement[str]:
    """The UTC day of an event as ``YYYY-MM-DD`` on this database."""
    if conn.dialect.name == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        return func.substr(ev.ts, 1, 10)
    return func.to_char(func.timezone("UTC", ev.ts), "YYYY-MM-DD")


@dataclass
class Totals:
    """The sums of one scope: overall, per user/protocol/action/day, top paths, and the
    transfer volume per day and protocol (for the chart)."""

    summary: dict[str, int]
    by_user: list[dict[str, Any]] = field(default_factory=list)
    by_protocol: list[dict[str, Any]] = field(default_factory=list)
    by_action: list[dict[str, Any]] = field(default_factory=list)
    by_day: list[dict[str, Any]] = field(default_factory=list)
    volume: list[dict[str, Any]] = field(default_factory=list)  # day, protocol, bytes
    top_paths: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "by_user": self.by_user,
                "by_protocol": self.by_protocol, "by_action": self.by_action,
                "by_day": self.by_day, "volume": self.volume, "top_paths": self.top_paths}


def _add(table: dict[Any, dict[str, int]], key: Any, row: Any) -> None:
    t = table.setdefault(key, {"events": 0, "upload_bytes": 0, "download_bytes": 0,
                               "failed": 0})
    for k in t:
        t[k] += int(getattr(row, k) or 0)


def _rows(table: dict[Any, dict[str, int]], name: str) -> list[dict[str, Any]]:
    return [{name: k, **v} for k, v in table.items()]


def compute_totals(catalog: Catalog, scope: Scope, top: int = TOP) -> Totals:
    """Every sum of ``scope``: one GROUP BY over (user, protocol, action, day) - a result
    as large as the distinct combinations, not the events - summed up here per dimension,
    and one for the top paths; in one read transaction (one snapshot)."""
    where = conditions(scope)
    tables: dict[str, dict[Any, dict[str, int]]] = {k: {} for k in (
        "user", "protocol", "action", "day", "volume")}
    summary = {"events": 0, "upload_bytes": 0, "download_bytes": 0, "failed": 0}
    with catalog.read() as conn:
        day = day_of(conn)
        cube = select(ev.user, ev.protocol, ev.action, day.label("day"), *_measures()) \
            .where(where).group_by(ev.user, ev.protocol, ev.action, day)
        for r in conn.execute(cube):
            for k in summary:
                summary[k] += int(getattr(r, k) or 0)
            _add(tables["user"], r.user or "", r)
            _add(tables["protocol"], r.protocol, r)
            _add(tables["action"], r.action, r)
            _add(tables["day"], r.day, r)
            if r.action in UPLOADS + DOWNLOADS:
                _add(tables["volume"], (r.day, r.protocol), r)
        paths = select(ev.path, func.count().label("events"),
                       func.coalesce(func.sum(ev.bytes), 0).label("bytes")).where(
            where, ev.path.is_not(None), ev.protocol != "admin").group_by(ev.path).order_by(
            func.count().desc(), ev.path).limit(top)
        top_paths = [{"path": r.path, "events": int(r.events), "bytes": int(r.bytes)}
                     for r in conn.execute(paths)]
    summary["users"] = len([u for u in tables["user"] if u])  # "": erased or none

    def ranked(name: str) -> list[dict[str, Any]]:
        return sorted(_rows(tables[name], name), key=lambda r: (-r["events"], r[name]))

    volume = [{"day": d, "protocol": p, "upload_bytes": v["upload_bytes"],
               "download_bytes": v["download_bytes"]}
              for (d, p), v in sorted(tables["volume"].items())]
    return Totals(summary, ranked("user"), ranked("protocol"), ranked("action"),
                  sorted(_rows(tables["day"], "day"), key=lambda r: r["day"]), volume,
                  top_paths)
