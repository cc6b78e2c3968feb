"""Event notification rules: per tenant and folder, a webhook fires when a file upload
completes (and, if asked, on download and delete). ``notify.watcher`` turns the matching
audit events into outbox entries; this module holds the rules and the payload."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from gateway.catalog.tables import audit_heads, event_rules, notify_cursors, webhook_endpoints
from gateway.core import Core
from gateway.errors import ConfigError, GatewayError, NotFound
from gateway.names import normalize_path
from gateway.notify import registry
from gateway.notify.outbox import utc

#: rule event -> (audit action, outbox kind)
EVENTS = {"upload": ("write", "file.uploaded"), "download": ("read", "file.downloaded"),
          "delete": ("delete", "file.deleted")}
ACTIONS = {action: (name, kind) for name, (action, kind) in EVENTS.items()}


@dataclass(frozen=True)
class Rule:
    id: str
    tenant: str
    path: str
    events: list[str]
    webhook_id: str
    created_at: datetime

    def matches(self, event: str, path: str | None, case_insensitive: bool) -> bool:
        if event not in self.events or path is None:
            return False
        folder, p = self.path, path
        if case_insensitive:
            folder, p = folder.casefold(), p.casefold()
        return folder == "/" or p == folder or p.startswith(folder + "/")


def check_events(names: list[str]) -> list[str]:
    bad = [n for n in names if n not in EVENTS]
    if not names or bad:
        raise ConfigError(f"--on {','.join(names)}: choose from {', '.join(EVENTS)} "
                          "(comma-separated)")
    return sorted(set(names))


def _rule(row: Any, tenant: str) -> Rule:
    return Rule(row.id, tenant, row.path, json.loads(row.events), row.webhook_id,
                utc(row.created_at))


def start_cursor(conn: Connection, chain: str) -> None:
    """Follow a chain from its present head on (events before the first rule are past)."""
    if conn.execute(select(notify_cursors.c.seq).where(notify_cursors.c.chain == chain)
                    ).first() is None:
        head = conn.execute(select(func.coalesce(func.max(audit_heads.c.seq), 0))
                            .where(audit_heads.c.chain == chain)).scalar()
        conn.execute(insert(notify_cursors).values(chain=chain, seq=head))


def _check_webhook(conn: Connection, tid: str, name: str, webhook_id: str,
                   events: list[str]) -> None:
    owner = conn.execute(select(webhook_endpoints.c.tenant_id, webhook_endpoints.c.events)
                         .where(webhook_endpoints.c.id == webhook_id)).first()
    if owner is None or owner.tenant_id != tid:
        raise NotFound(f"no webhook {webhook_id!r} of tenant {name}: see "
                       f"`lumanox-gateway webhook list --tenant {name}`")
    takes = json.loads(owner.events)
    refused = [EVENTS[e][1] for e in events if takes and EVENTS[e][1] not in takes]
    if refused:
        raise ConfigError(f"webhook {webhook_id} does not take {', '.join(refused)} "
                          f"(it takes {', '.join(takes)}): add a webhook without "
                          "--events, or one that lists them")


def add_rule(core: Core, tenant: str, path: str, on: list[str], webhook_id: str) -> Rule:
    """A new rule; a refused one (unknown webhook, kinds it does not take) is audited as
    ``denied``."""
    events, folder = check_events(on), normalize_path(path)
    with core.catalog.read() as conn:
        tid, name = registry.tenant_id(conn, tenant)
        try:
            _check_webhook(conn, tid, name, webhook_id, events)
        except GatewayError as exc:
            problem: GatewayError | None = exc
        else:
            problem = None
    if problem is not None:
        with core.catalog.write() as conn:
            registry.audit_change(core, conn, "event-rule-add", (tid, name), path=folder,
                                  reason=str(problem), result="denied")
        raise problem
    with core.catalog.write() as conn:
        _check_webhook(conn, tid, name, webhook_id, events)  # still there
        rid = uuid.uuid4().hex
        conn.execute(event_rules.insert().values(
            id=rid, tenant_id=tid, path=folder, events=json.dumps(events),
            webhook_id=webhook_id, created_at=datetime.now(UTC)))
        start_cursor(conn, tid)
        registry.audit_change(core, conn, "event-rule-add", (tid, name), path=folder,
                              reason=f"id {rid} on {','.join(events)} -> webhook {webhook_id}")
        row = conn.execute(select(event_rules).where(event_rules.c.id == rid)).one()
    return _rule(row, name)


def list_rules(core: Core, tenant: str | None = None) -> list[Rule]:
    with core.catalog.read() as conn:
        q = select(event_rules).order_by(event_rules.c.created_at)
        if tenant is not None:
            q = q.where(event_rules.c.tenant_id == registry.tenant_id(conn, tenant)[0])
        names = registry.tenant_names(conn)
        return [_rule(r, names.get(r.tenant_id, "?")) for r in conn.execute(q)]


def remove_rule(core: Core, rule_id: str) -> Rule:
    with core.catalog.write() as conn:
        row = conn.execute(select(event_rules).where(event_rules.c.id == rule_id)).first()
        if row is None:
            raise NotFound(f"no event rule {rule_id!r}: see `lumanox-gateway event rule list`")
        names = registry.tenant_names(conn)
        rule = _rule(row, names.get(row.tenant_id, "?"))
        conn.execute(delete(event_rules).where(event_rules.c.id == rule_id))
        if conn.execute(select(event_rules.c.id).where(
                event_rules.c.tenant_id == row.tenant_id).limit(1)).first() is None:
            # nothing follows this chain now; a later first rule starts from its head then
            conn.execute(delete(notify_cursors).where(notify_cursors.c.chain == row.tenant_id))
        registry.audit_change(core, conn, "event-rule-remove", (row.tenant_id, rule.tenant),
                              path=rule.path, reason=f"id {rule_id}")
    return rule


def payload(event: Any, name: str, arrived: tuple[str, int | None, str | None] | None = None
            ) -> dict[str, Any]:
    """What a receiver gets (the ``data`` of the webhook body) for one audit event;
    ``arrived`` = (path, size, content MAC) of a file renamed into place."""
    ts = event.ts if event.ts.tzinfo else event.ts.replace(tzinfo=UTC)
    path, size, mac = arrived or (event.path, event.bytes, event.sha256)
    return {"event_id": event.id, "event": name, "tenant": event.tenant, "path": path,
            "size": size, "content_hmac": mac, "protocol": event.protocol,
            "account": f"{event.user}@{event.tenant}" if event.user else None,
            "time": ts.astimezone(UTC).isoformat(timespec="milliseconds")}
