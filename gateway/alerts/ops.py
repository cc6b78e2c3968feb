"""What the CLI (and later the HTTP API) calls: rules per tenant, rule tests over stored
events, fired alerts. Changes are audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from gateway import admin
from gateway.alerts import state
from gateway.alerts.detect import Scope, detect
from gateway.alerts.evaluator import Params, chain_alerts
from gateway.alerts.model import RULES, FiredAlert, check_param, defaults, rule_spec
from gateway.catalog.tables import alert_rules
from gateway.core import Core
from gateway.policy.logins import MAX_TENANT_CHARS, canonical_name


def list_rules(core: Core, tenant: str | None = None) -> list[dict[str, Any]]:
    """Each rule's parameters for ``tenant`` (the defaults without), and which it overrides."""
    with core.catalog.read() as conn:
        ovr = state.overrides(conn)
    name = _tenant(core, tenant) if tenant else None
    params = Params(defaults(core.config), ovr)
    return [{"rule": r, "tenant": name, "description": spec.description,
             "params": params(name, r),
             "overridden": sorted(ovr.get(name or "", {}).get(r, {}))}
            for r, spec in RULES.items()]


def set_rule(core: Core, tenant: str, rule: str, values: dict[str, str],
             reset: bool = False) -> dict[str, Any]:
    """Override parameters of ``rule`` for ``tenant`` (text values, checked); ``reset``
    drops the tenant's overrides of the rule first. Audited (``alert-rule-set``)."""
    rule_spec(rule)
    name = _tenant(core, tenant)
    checked = {k: check_param(rule, k, v) for k, v in values.items()}
    if not checked and not reset:
        raise ValueError("nothing to set: give PARAM=VALUE pairs (e.g. threshold=5) or --reset")
    tid = admin.get_tenant(core, name).id
    now = datetime.now(UTC)
    with core.catalog.write() as conn:
        t = alert_rules
        old = state.overrides(conn).get(name, {}).get(rule, {})
        merged = checked if reset else {**old, **checked}
        conn.execute(delete(t).where(t.c.tenant_id == tid, t.c.rule == rule))
        if merged:
            conn.execute(insert(t).values(tenant_id=tid, rule=rule,
                                          settings=json.dumps(merged, sort_keys=True),
                                          updated_at=now))
        admin._admin_event(core, conn, tid, name, "alert-rule-set", reason=(
            f"{rule}: " + (json.dumps(merged, sort_keys=True) if merged else "defaults")))
    return next(r for r in list_rules(core, name) if r["rule"] == rule)


def test_rule(core: Core, rule: str, *, since: datetime, until: datetime,
              tenant: str | None = None) -> list[FiredAlert]:
    """What ``rule`` would have fired over the stored events of [since, until), de-duplicated
    as the evaluator does; nothing is stored or sent. ``audit_chain`` also verifies now."""
    rule_spec(rule)
    name = _tenant(core, tenant) if tenant else None
    if until <= since:
        raise ValueError("--until must be after --since")
    with core.catalog.read() as conn:
        ovr = state.overrides(conn)
        base = Params(defaults(core.config), ovr)
        events = state.events_between(conn, since, until, name)
        found = detect(Scope(conn, lambda t, r: {**base(t, r), "enabled": r == rule and
                                                  base(t, r)["enabled"]},
                             state.HistorySeen(conn, since)), events)
        names = state.tenant_ids(conn)
    if rule == "audit_chain":
        found += [a for a in chain_alerts(core, datetime.now(UTC), names)
                  if name is None or a.tenant == name]
    window = timedelta(seconds=core.config.alerts.dedupe_window_s)
    kept: dict[str, FiredAlert] = {}
    out: list[FiredAlert] = []
    for alert in sorted(found, key=lambda a: a.at):
        first = kept.get(alert.dedupe_key)
        if first is not None and alert.at - first.at < window:
            first.repeats += 1
            continue
        kept[alert.dedupe_key] = alert
        out.append(alert)
    return out


def list_alerts(core: Core, tenant: str | None = None, limit: int = 100) -> list[FiredAlert]:
    """Fired alerts, newest first, with their delivery state and repeat counts."""
    name = _tenant(core, tenant) if tenant else None
    with core.catalog.read() as conn:
        alerts = state.fired(conn, name, limit)
        outcome = _outbox_states(conn, alerts)
    for a in alerts:  # a notification sink: what the outbox made of it (sent = queued)
        for sink in a.delivery:
            a.delivery[sink] = outcome.get(f"alert:{a.id}:{sink}", a.delivery[sink])
    return alerts


def _outbox_states(conn, alerts: list[FiredAlert]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """``dedupe key -> "delivered" | "pending (N attempts)" | "dead after N attempts:
    <last error>"`` of the alerts' webhook and mail deliveries."""
    from gateway.catalog.tables import notify_outbox as o

    keys = [f"alert:{a.id}:{s}" for a in alerts for s in a.delivery if s != "log"]
    out: dict[str, str] = {}
    for i in range(0, len(keys), 500):
        for key, st, tries, err in conn.execute(select(
                o.c.dedupe_key, o.c.state, o.c.attempts, o.c.last_error).where(
                o.c.dedupe_key.in_(keys[i:i + 500]))):
            out[key] = {"delivered": "delivered", "pending": f"pending ({tries} attempts)"}.get(
                st, f"dead after {tries} attempts: {err or '?'}")
    return out


def erase_subject(core: Core, tenant: str, user: str) -> int:
    """Erase an account's identifiers from the alert state (GDPR erasure, next to `audit
    erase`): its seen networks are deleted; its alerts keep rule and time, their subject
    and details are replaced. Returns the number of alerts changed. Audited."""
    from sqlalchemy import update

    from gateway.catalog.tables import alert_seen_networks, alerts_fired

    name = _tenant(core, tenant)
    account = f"{user}@{name}"
    t = alerts_fired
    with core.catalog.write() as conn:
        conn.execute(delete(alert_seen_networks).where(alert_seen_networks.c.tenant == name,
                                                       alert_seen_networks.c.user == user))
        ids = [i for i, subject in conn.execute(select(t.c.id, t.c.subject).where(
            t.c.tenant == name)) if subject == account or subject.startswith(account + " ")]
        if ids:
            conn.execute(update(t).where(t.c.id.in_(ids)).values(
                subject="(erased)", details="{}"))
        admin._admin_event(core, conn, admin.get_tenant(core, name).id, name, "alert-erase",
                           reason=f"{len(ids)} alerts")
    return len(ids)


def _tenant(core: Core, tenant: str) -> str:
    name = canonical_name(tenant, MAX_TENANT_CHARS) or tenant
    admin.get_tenant(core, name)  # NotFound naming `tenant list`
    return name

