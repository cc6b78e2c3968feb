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


def _grouped(conn: Connection, where: ColumnElement[bool], key: ColumnElement[Any],
             name: str) -> list[dict[str, Any]]:
    q = select(key.label(name), *_measures()).where(where).group_by(key)
    rows = [dict(r) for r in conn.execute(q).mappings()]
    return [{**r, **{k: int(r[k]) for k in ("events", "upload_bytes", "download_bytes",
                                            "failed")}} for r in rows]


def compute_totals(catalog: Catalog, scope: Scope, top: int = TOP) -> Totals:
    """Every sum of ``scope`` in one read transaction (one consistent snapshot on
    PostgreSQL; SQLite readers see one snapshot per transaction too)."""
    where = conditions(scope)
    with catalog.read() as conn:
        day = day_of(conn)
        row = conn.execute(select(*_measures(), func.count(func.distinct(ev.user))
                                  .label("users")).where(where)).mappings().one()
        summary = {k: int(v or 0) for k, v in row.items()}
        by_user = _grouped(conn, where, func.coalesce(ev.user, ""), "user")
        by_user.sort(key=lambda r: (-r["events"], r["user"]))
        by_protocol = sorted(_grouped(conn, where, ev.protocol, "protocol"),
                             key=lambda r: (-r["events"], r["protocol"]))
        by_action = sorted(_grouped(conn, where, ev.action, "action"),
                           key=lambda r: (-r["events"], r["action"]))
        by_day = sorted(_grouped(conn, where, day, "day"), key=lambda r: r["day"])
        vol = select(day.label("day"), ev.protocol,
                     _sum_bytes(UPLOADS).label("upload_bytes"),
                     _sum_bytes(DOWNLOADS).label("download_bytes")).where(
            where, ev.action.in_(UPLOADS + DOWNLOADS)).group_by(day, ev.protocol)
        volume = sorted(({"day": r.day, "protocol": r.protocol,
                          "upload_bytes": int(r.upload_bytes),
                          "download_bytes": int(r.download_bytes)}
                         for r in conn.execute(vol)), key=lambda r: (r["day"], r["protocol"]))
        paths = select(ev.path, func.count().label("events"),
                       func.coalesce(func.sum(ev.bytes), 0).label("bytes")).where(
            where, ev.path.is_not(None), ev.protocol != "admin").group_by(ev.path).order_by(
            func.count().desc(), ev.path).limit(top)
        top_paths = [{"path": r.path, "events": int(r.events), "bytes": int(r.bytes)}
                     for r in conn.execute(paths)]
    return Totals(summary, by_user, by_protocol, by_action, by_day, volume, top_paths)
