"""The delivery outbox: one catalog row per message to deliver, delivered by ``serve``'s
dispatcher (``notify.dispatcher``), at least once, with every attempt kept.

States: ``pending`` (due at ``next_at``) -> ``delivered`` | ``dead`` (after
``notify.max_attempts`` failures, or at once when the target is gone). Several dispatchers
(worker processes, nodes) share the table: one claims a row with a conditional UPDATE
(``WHERE state = 'pending' AND lease expired``) that at most one of them wins, and only the
holder of the claim records the attempt; a dispatcher that dies holding a claim leaves it to
expire (``notify.claim_lease_s``) and someone else retries it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.catalog import Catalog
from gateway.catalog.tables import notify_attempts, notify_outbox
from gateway.config_notify import NotifySection
from gateway.errors import ConfigError, NotFound

STATES = ("pending", "delivered", "dead")
TARGET_KINDS = ("webhook", "mail")


@dataclass(frozen=True)
class Entry:
    id: int
    tenant_id: str | None
    kind: str
    target: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_at: datetime
    last_error: str | None
    created_at: datetime
    done_at: datetime | None


def utc(value: datetime | None) -> datetime | None:
    """A catalog time as an aware UTC datetime (SQLite returns them naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def entry(row: Any) -> Entry:
    return Entry(row.id, row.tenant_id, row.kind, row.target, json.loads(row.payload),
                 row.state, row.attempts, utc(row.next_at), row.last_error,  # type: ignore[arg-type]
                 utc(row.created_at), utc(row.done_at))  # type: ignore[arg-type]


def check_target(target: str) -> str:
    kind, _, rest = target.partition(":")
    if kind not in TARGET_KINDS or not rest or (kind == "mail" and "@" not in rest):
        raise ConfigError(f"delivery target {target!r}: use webhook:<endpoint id> or "
                          "mail:<address>")
    return target


def enqueue_in(conn: Connection, *, tenant_id: str | None, kind: str, target: str,
               payload: dict, dedupe_key: str | None = None) -> int | None:
    """``enqueue`` inside the caller's transaction."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        notify_outbox)
    now = datetime.now(UTC)
    stmt = insert.values(tenant_id=tenant_id, kind=kind, target=check_target(target),
                         payload=json.dumps(payload, sort_keys=True), dedupe_key=dedupe_key,
                         state="pending", attempts=0, next_at=now, created_at=now)
    if dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    return conn.execute(stmt.returning(notify_outbox.c.id)).scalar()


def enqueue(catalog: Catalog, *, tenant_id: str | None, kind: str, target: str,
            payload: dict, dedupe_key: str | None = None) -> int | None:
    """Queue one message for delivery; its id, or None when ``dedupe_key`` was queued
    before (so a producer that runs twice does not deliver twice)."""
    with catalog.write() as conn:
        return enqueue_in(conn, tenant_id=tenant_id, kind=kind, target=target,
                          payload=payload, dedupe_key=dedupe_key)


def claim(catalog: Catalog, holder: str, lease_s: int, limit: int = 20) -> list[Entry]:
    """Due entries this holder now has a claim on (no other dispatcher gets them): one
    conditional UPDATE over the candidates, then the rows that carry this claim."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=lease_s)
    free = or_(notify_outbox.c.lease_until.is_(None), notify_outbox.c.lease_until < now)
    with catalog.read() as conn:
        ids = conn.execute(select(notify_outbox.c.id).where(
            notify_outbox.c.state == "pending", notify_outbox.c.next_at <= now, free)
            .order_by(notify_outbox.c.next_at, notify_outbox.c.id).limit(limit)).scalars().all()
    if not ids:
        return []
    with catalog.write() as conn:
        conn.execute(update(notify_outbox).where(
            notify_outbox.c.id.in_(ids), notify_outbox.c.state == "pending", free)
            .values(lease_holder=holder, lease_until=until))
        rows = conn.execute(select(notify_outbox).where(
            notify_outbox.c.id.in_(ids), notify_outbox.c.lease_holder == holder,
            notify_outbox.c.lease_until == until).order_by(notify_outbox.c.id)).all()
    return [entry(r) for r in rows]


def backoff(settings: NotifySection, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: base, 2 x base, 4 x base ... up to max."""
    ms = min(settings.retry_base_ms * 2 ** min(attempts - 1, 40), settings.retry_max_ms)
    return timedelta(milliseconds=ms)


def finish(catalog: Catalog, settings: NotifySection, item: Entry, holder: str, *, ok: bool,
           status: int | None, error: str | None, duration_ms: int,
           permanent: bool = False) -> str | None:
    """Record one attempt and the entry's next state; None if the claim was lost."""
    now = datetime.now(UTC)
    attempts = item.attempts + 1
    if ok:
        values: dict[str, Any] = {"state": "delivered", "done_at": now, "last_error": None}
    elif permanent or attempts >= settings.max_attempts:
        values = {"state": "dead", "done_at": now, "last_error": error}
    else:
        values = {"next_at": now + backoff(settings, attempts), "last_error": error}
    with catalog.write() as conn:
        held = conn.execute(update(notify_outbox).where(
            notify_outbox.c.id == item.id, notify_outbox.c.lease_holder == holder,
            notify_outbox.c.state == "pending")
            .values(attempts=attempts, lease_holder=None, lease_until=None, **values)).rowcount
        if not held:
            return None
        conn.execute(notify_attempts.insert().values(
            outbox_id=item.id, at=now, ok=ok, status=status, error=error,
            duration_ms=duration_ms, holder=holder))
    return values.get("state", "pending")


def list_entries(catalog: Catalog, *, tenant_id: str | None = None, state: str | None = None,
                 kind_prefix: str | None = None, limit: int = 100) -> list[Entry]:
    """Entries newest first, by tenant, state and kind."""
    if state is not None and state not in STATES:
        raise ConfigError(f"state {state!r}: choose one of {', '.join(STATES)}")
    q = select(notify_outbox).order_by(notify_outbox.c.id.desc()).limit(limit)
    if tenant_id is not None:
        q = q.where(notify_outbox.c.tenant_id == tenant_id)
    if state is not None:
        q = q.where(notify_outbox.c.state == state)
    if kind_prefix is not None:
        q = q.where(notify_outbox.c.kind.startswith(kind_prefix, autoescape=True))
    with catalog.read() as conn:
        return [entry(r) for r in conn.execute(q)]


def prune(catalog: Catalog, older_than: datetime) -> int:
    """Forget delivered and dead entries finished before ``older_than`` (their attempts
    go with them); how many."""
    with catalog.write() as conn:
        return conn.execute(delete(notify_outbox).where(
            notify_outbox.c.state.in_(("delivered", "dead")),
            notify_outbox.c.done_at < older_than)).rowcount


def get_entry(catalog: Catalog, outbox_id: int) -> Entry:
    with catalog.read() as conn:
        row = conn.execute(select(notify_outbox).where(notify_outbox.c.id == outbox_id)).first()
    if row is None:
        raise NotFound(f"no delivery #{outbox_id}: see `lumanox-gateway event list`")
    return entry(row)


def attempts_of(catalog: Catalog, outbox_id: int) -> list[dict[str, Any]]:
    with catalog.read() as conn:
        rows = conn.execute(select(notify_attempts).where(
            notify_attempts.c.outbox_id == outbox_id).order_by(notify_attempts.c.id))
        return [{"at": utc(r.at), "ok": r.ok, "status": r.status, "error": r.error,
                 "duration_ms": r.duration_ms} for r in rows]
