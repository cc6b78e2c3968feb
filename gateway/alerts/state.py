"""The evaluator's state in the catalog: lease and cursor, rule overrides, seen networks,
fired alerts with their de-duplication."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.alerts.model import FiredAlert
from gateway.catalog.tables import (
    alert_lease,
    alert_rules,
    alert_seen_networks,
    alerts_fired,
    audit_events,
    audit_heads,
    tenants,
)

LEASE = "evaluator"
EVENT_COLUMNS = ("id", "chain", "seq", "ts", "tenant", "user", "protocol", "remote_addr",
                 "action", "path", "bytes", "result", "reason")


def aware(t: datetime | None) -> datetime | None:
    """A catalog time as an aware UTC datetime (SQLite returns them naive)."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# --- lease and cursor ---------------------------------------------------------------------------
def heads(conn: Connection) -> dict[str, int]:
    return {c: s for c, s in conn.execute(select(audit_heads.c.chain, audit_heads.c.seq))}


def take_lease(conn: Connection, holder: str, now: datetime, lease_s: int) -> bool:
    """Hold (or renew) the evaluator's lease; False if another holder's is still valid.
    A new lease row starts its cursor at the current chain heads (history is not replayed)."""
    row = conn.execute(select(alert_lease).where(alert_lease.c.name == LEASE)
                       .with_for_update()).mappings().first()
    until = now + timedelta(seconds=lease_s)
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(alert_lease).values(
                    name=LEASE, holder=holder, expires_at=until,
                    cursor=json.dumps(heads(conn), sort_keys=True)))
        except IntegrityError:
            return False
        return True
    if row["holder"] != holder and aware(row["expires_at"]) > now:  # type: ignore[operator]
        return False
    conn.execute(update(alert_lease).where(alert_lease.c.name == LEASE)
                 .values(holder=holder, expires_at=until))
    return True


def renew(conn: Connection, now: datetime, lease_s: int) -> datetime:
    """Extend the lease (its row locked by ``still_holder`` in this transaction)."""
    until = now + timedelta(seconds=lease_s)
    conn.execute(update(alert_lease).where(alert_lease.c.name == LEASE).values(expires_at=until))
    return until


def still_holder(conn: Connection, holder: str) -> dict[str, Any] | None:
    """The lease row (locked for this transaction) if ``holder`` still holds it."""
    row = conn.execute(select(alert_lease).where(alert_lease.c.name == LEASE)
                       .with_for_update()).mappings().first()
    return dict(row) if row is not None and row["holder"] == holder else None


def lease_row(conn: Connection) -> dict[str, Any]:
    """The lease row, its cursor decoded."""
    row = dict(conn.execute(select(alert_lease).where(alert_lease.c.name == LEASE))
               .mappings().one())
    row["cursor"] = {str(k): int(v) for k, v in json.loads(row["cursor"]).items()}
    return row


def release(conn: Connection, holder: str, now: datetime) -> None:
    conn.execute(update(alert_lease).where(alert_lease.c.name == LEASE,
                                           alert_lease.c.holder == holder)
                 .values(expires_at=now))


def save_cursor(conn: Connection, cursor: dict[str, int],
                verified_at: datetime | None = None) -> None:
    values: dict[str, Any] = {"cursor": json.dumps(cursor, sort_keys=True)}
    if verified_at is not None:
        values["verified_at"] = verified_at
    conn.execute(update(alert_lease).where(alert_lease.c.name == LEASE).values(**values))


def _event(row: Any) -> dict[str, Any]:
    e = {k: row[k] for k in EVENT_COLUMNS}
    e["ts"] = aware(e["ts"])
    return e


def new_events(conn: Connection, cursor: dict[str, int], limit: int
               ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Events after the cursor (per chain: readers always see a prefix of a chain, so
    nothing that commits later is skipped), in time order, and the advanced cursor."""
    out: list[dict[str, Any]] = []
    moved = dict(cursor)
    for chain, head in heads(conn).items():
        if head <= cursor.get(chain, 0):
            continue
        rows = conn.execute(select(audit_events).where(
            audit_events.c.chain == chain, audit_events.c.seq > cursor.get(chain, 0))
            .order_by(audit_events.c.seq).limit(limit)).mappings().all()
        if rows:
            out += [_event(r) for r in rows]
            moved[chain] = rows[-1]["seq"]
    out.sort(key=lambda e: (e["ts"], e["chain"], e["seq"]))
    return out, moved


def events_between(conn: Connection, since: datetime, until: datetime,
                   tenant: str | None) -> list[dict[str, Any]]:
    """Stored events of a time range (``alert rule test``)."""
    q = select(audit_events).where(audit_events.c.ts >= since, audit_events.c.ts < until)
    if tenant:
        q = q.where(audit_events.c.tenant == tenant)
    return [_event(r) for r in conn.execute(q.order_by(audit_events.c.ts, audit_events.c.seq))
            .mappings()]


# --- rule parameters ---------------------------------------------------------------------------
def tenant_ids(conn: Connection) -> dict[str, str]:
    return {n: i for n, i in conn.execute(select(tenants.c.name, tenants.c.id))}


def overrides(conn: Connection) -> dict[str, dict[str, dict[str, Any]]]:
    """tenant name -> rule -> overridden parameters."""
    q = select(tenants.c.name, alert_rules.c.rule, alert_rules.c.settings).join(
        tenants, tenants.c.id == alert_rules.c.tenant_id)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, rule, settings in conn.execute(q):
        out.setdefault(name, {})[rule] = json.loads(settings)
    return out


# --- seen networks ----------------------------------------------------------------------------
class TableSeen:
    """Seen networks from ``alert_seen_networks``; additions written in the round's
    transaction (``flush``)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._known: dict[tuple[str, str], set[str]] = {}
        self._added: dict[tuple[str, str, str], datetime] = {}

    def known(self, tenant: str, user: str) -> set[str]:
        key = (tenant, user)
        if key not in self._known:
            t = alert_seen_networks
            self._known[key] = set(self.conn.execute(select(t.c.network).where(
                t.c.tenant == tenant, t.c.user == user)).scalars())
        return set(self._known[key])

    def add(self, tenant: str, user: str, network: str, at: datetime) -> None:
        self.known(tenant, user)
        self._known[(tenant, user)].add(network)
        self._added[(tenant, user, network)] = at

    def flush(self, conn: Connection) -> None:
        t = alert_seen_networks
        for (tenant, user, network), at in self._added.items():
            done = conn.execute(update(t).where(t.c.tenant == tenant, t.c.user == user,
                                                t.c.network == network)
                                .values(last_seen=at)).rowcount
            if not done:
                conn.execute(insert(t).values(tenant=tenant, user=user, network=network,
                                              first_seen=at, last_seen=at))


class HistorySeen(TableSeen):
    """Seen networks as of a past time: the account's successful events before ``since``
    (``alert rule test``: nothing is written)."""

    def __init__(self, conn: Connection, since: datetime) -> None:
        super().__init__(conn)
        self.since = since

    def known(self, tenant: str, user: str) -> set[str]:
        from gateway.alerts.detect import network_of

        key = (tenant, user)
        if key not in self._known:
            e = audit_events
            addrs = self.conn.execute(select(e.c.remote_addr).distinct().where(
                e.c.tenant == tenant, e.c.user == user, e.c.result == "ok",
                e.c.protocol.not_in(("admin", "alerts")), e.c.ts < self.since)).scalars()
            self._known[key] = {n for n in map(network_of, addrs) if n}
        return set(self._known[key])


# --- fired alerts -----------------------------------------------------------------------------
def duplicate_of(conn: Connection, alert: FiredAlert, window_s: int) -> int | None:
    """The id of an alert of the same rule, tenant and subject within the window."""
    t = alerts_fired
    return conn.execute(select(t.c.id).where(
        t.c.dedupe_key == alert.dedupe_key,
        t.c.at > alert.at - timedelta(seconds=window_s),
        t.c.at < alert.at + timedelta(seconds=window_s))
        .order_by(t.c.at.desc()).limit(1)).scalar()


def count_repeat(conn: Connection, alert_id: int, at: datetime) -> None:
    t = alerts_fired
    conn.execute(update(t).where(t.c.id == alert_id)
                 .values(repeats=t.c.repeats + 1, last_seen_at=at))


def store(conn: Connection, alert: FiredAlert, now: datetime) -> None:
    alert.fired_at = now
    alert.delivery = {}
    alert.id = conn.execute(insert(alerts_fired).values(
        rule=alert.rule, tenant=alert.tenant, subject=alert.subject,
        dedupe_key=alert.dedupe_key, at=alert.at, fired_at=now, summary=alert.summary,
        details=json.dumps(alert.details, default=str, sort_keys=True),
        delivery="{}", repeats=0)).inserted_primary_key[0]


def set_delivery(conn: Connection, alert_id: int, delivery: dict[str, str]) -> None:
    conn.execute(update(alerts_fired).where(alerts_fired.c.id == alert_id)
                 .values(delivery=json.dumps(delivery, sort_keys=True)))


def undelivered(conn: Connection, limit: int = 100) -> list[FiredAlert]:
    """Alerts stored but never handed to the sinks (their evaluator stopped in between)."""
    return fired(conn, None, limit, undelivered=True)


def fired(conn: Connection, tenant: str | None, limit: int,
          undelivered: bool = False) -> list[FiredAlert]:
    t = alerts_fired
    q = select(t)
    if tenant:
        q = q.where(t.c.tenant == tenant)
    if undelivered:
        q = q.where(t.c.delivery == "{}")
    rows = conn.execute(q.order_by(t.c.fired_at.desc(), t.c.id.desc()).limit(limit)).mappings()
    return [FiredAlert(r["rule"], r["tenant"], r["subject"], aware(r["at"]),  # type: ignore[arg-type]
                       r["summary"], json.loads(r["details"]), id=r["id"],
                       fired_at=aware(r["fired_at"]), delivery=json.loads(r["delivery"]),
                       repeats=r["repeats"]) for r in rows]
