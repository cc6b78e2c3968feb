"""The event watcher: follows the audit events of every tenant that has event rules and
queues one outbox entry per matching event and webhook (``notify.events``).

Nothing runs on the upload path: the audit event the upload already writes, in the same
transaction as the file, is the trigger. Each chain (tenant) is followed by sequence
number, with its cursor in ``notify_cursors``: per chain, the events a reader sees are
always a prefix (appends hold the chain head until they commit), so "seq above the cursor"
skips nothing, while a global id order could (ids are taken before commit). The entries
and the cursor move in one transaction, and every entry has the dedupe key
``ev:<audit id>:<webhook id>``: each event is queued once (at-least-once delivery then).
One node at a time follows (the ``event-watcher`` lease in ``notify_leases``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.catalog import Catalog, namespace as ns
from gateway.catalog.tables import (
    audit_events,
    audit_heads,
    event_rules,
    notify_cursors,
    notify_leases,
    tenants,
)
from gateway.errors import GatewayError
from gateway.names import split_path
from gateway.notify.events import ACTIONS, EVENTS, Rule, payload, start_cursor
from gateway.notify.outbox import enqueue_in

LEASE = "event-watcher"
BATCH = 500


def take_lease(catalog: Catalog, name: str, holder: str, ttl_s: float) -> bool:
    """Hold (or renew) the named lease until now + ttl; False while another holds it."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=ttl_s)
    try:
        with catalog.write() as conn:
            won = conn.execute(update(notify_leases).where(
                notify_leases.c.name == name,
                or_(notify_leases.c.holder == holder, notify_leases.c.expires_at < now))
                .values(holder=holder, expires_at=until)).rowcount
            if won:
                return True
            if conn.execute(select(notify_leases.c.name).where(
                    notify_leases.c.name == name)).first() is not None:
                return False
            conn.execute(insert(notify_leases).values(name=name, holder=holder,
                                                      expires_at=until))
            return True
    except IntegrityError:  # another node inserted it first
        return False


def release_lease(catalog: Catalog, name: str, holder: str) -> None:
    with catalog.write() as conn:
        conn.execute(update(notify_leases).where(
            notify_leases.c.name == name, notify_leases.c.holder == holder)
            .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC)))


def has_rules(catalog: Catalog) -> bool:
    with catalog.read() as conn:
        return conn.execute(select(event_rules.c.id).limit(1)).first() is not None


def _rules(conn: Connection) -> dict[str, list[Rule]]:
    by_tenant: dict[str, list[Rule]] = defaultdict(list)
    for r in conn.execute(select(event_rules)):
        by_tenant[r.tenant_id].append(Rule(r.id, "", r.path, json.loads(r.events),
                                           r.webhook_id, r.created_at))
    return by_tenant


def _temporary(path: str | None, suffixes: tuple[str, ...]) -> bool:
    return bool(path) and path.casefold().endswith(suffixes)  # type: ignore[union-attr]


def _arrival(conn: Connection, tenant_id: str, ev: Any, rules: list[Rule], ci: bool,
             suffixes: tuple[str, ...]) -> tuple[str, int | None, str | None] | None:
    """A rename that completes an upload: a file moved from a temporary name, or from
    outside a ruled folder into it; (final path, size, content MAC) as the catalog has it
    now, or None."""
    dest = ev.dest_path
    if not dest or _temporary(dest, suffixes):
        return None
    from_temp = _temporary(ev.path, suffixes)
    if not any(r.matches("upload", dest, ci) and (from_temp or not r.matches(
            "upload", ev.path, ci)) for r in rules):
        return None
    try:
        node = ns.resolve(conn, tenant_id, split_path(dest), ci)
    except GatewayError:  # moved on or deleted since: the rename still happened
        return dest, None, None
    return (dest, node.size, node.content_mac) if not node.is_dir else None


def _matches(conn: Connection, tenant_id: str, ev: Any, rules: list[Rule], ci: bool,
             suffixes: tuple[str, ...]) -> tuple[str, set[str], tuple | None]:
    """(event name, webhooks to notify, arrival) for one audit event."""
    if ev.result != "ok":
        return "", set(), None
    if ev.action == "move":
        arrived = _arrival(conn, tenant_id, ev, rules, ci, suffixes)
        hooks = {r.webhook_id for r in rules
                 if arrived and r.matches("upload", arrived[0], ci)}
        return "upload", hooks, arrived
    if ev.action not in ACTIONS or (ev.action == "write" and _temporary(ev.path, suffixes)):
        return "", set(), None
    name = ACTIONS[ev.action][0]
    return name, {r.webhook_id for r in rules if r.matches(name, ev.path, ci)}, None


def _follow(conn: Connection, tenant_id: str, rules: list[Rule], case_insensitive: bool,
            suffixes: tuple[str, ...] = ()) -> int:
    """Queue the matches among the chain's next events; how many events were read."""
    start_cursor(conn, tenant_id)
    cursor = conn.execute(select(notify_cursors.c.seq).where(
        notify_cursors.c.chain == tenant_id)).scalar()
    events = conn.execute(select(audit_events).where(and_(
        audit_events.c.chain == tenant_id, audit_events.c.seq > cursor))
        .order_by(audit_events.c.seq).limit(BATCH)).all()
    for ev in events:
        name, hooks, arrived = _matches(conn, tenant_id, ev, rules, case_insensitive,
                                        suffixes)
        for hook in sorted(hooks):
            enqueue_in(conn, tenant_id=tenant_id, kind=EVENTS[name][1],
                       target=f"webhook:{hook}", payload=payload(ev, name, arrived),
                       dedupe_key=f"ev:{ev.id}:{hook}")
    if events:
        conn.execute(update(notify_cursors).where(notify_cursors.c.chain == tenant_id)
                     .values(seq=events[-1].seq))
    return len(events)


def watch_once(catalog: Catalog, temporary_suffixes: list[str] | None = None) -> int:
    """One round over every ruled tenant; how many audit events were examined."""
    suffixes = tuple(s.casefold() for s in temporary_suffixes or ())
    with catalog.read() as conn:
        by_tenant = _rules(conn)
        folding = {r.id: r.case_insensitive for r in conn.execute(
            select(tenants.c.id, tenants.c.case_insensitive))}
        heads = {r.chain: r.seq for r in conn.execute(
            select(audit_heads.c.chain, audit_heads.c.seq).where(
                audit_heads.c.chain.in_(list(by_tenant))))}
        cursors = {r.chain: r.seq for r in conn.execute(select(notify_cursors))}
    seen = 0
    for tenant_id, rules in by_tenant.items():
        if tenant_id in cursors and heads.get(tenant_id, 0) <= cursors[tenant_id]:
            continue  # nothing new in this chain: no write transaction
        while True:
            with catalog.write() as conn:
                read = _follow(conn, tenant_id, rules, bool(folding.get(tenant_id, True)),
                               suffixes)
            seen += read
            if read < BATCH:
                break
    return seen
