"""``lumanox-gateway alert rule list|set|test`` and ``alert list``: the alert rules over the
audit stream (gateway/alerts), their per-tenant overrides, dry runs over stored events,
and the alerts fired with their delivery state. ``rule set`` is audited."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from gateway.config import Config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("alert", parents=[common], help="alert rules and fired alerts")
    asub = p.add_subparsers(dest="alert_cmd", required=True)
    rule = asub.add_parser("rule", parents=[common], help="list, set or test alert rules")
    rsub = rule.add_subparsers(dest="rule_cmd", required=True)
    a = rsub.add_parser("list", parents=[common], help="each rule's parameters")
    a.add_argument("--tenant", help="as they apply to this tenant (default: the [alerts] "
                   "defaults)")
    a = rsub.add_parser("set", parents=[common],
                        help="override a rule's parameters for a tenant (audited)")
    a.add_argument("rule", help="the rule (see `alert rule list`)")
    a.add_argument("values", nargs="*", metavar="PARAM=VALUE",
                   help="e.g. enabled=false, threshold=5, window_s=600")
    a.add_argument("--tenant", required=True, help="the tenant whose rule this is")
    a.add_argument("--reset", action="store_true",
                   help="drop the tenant's overrides of the rule first (back to defaults)")
    a = rsub.add_parser("test", parents=[common], help="what a rule would fire over stored "
                        "events of a time range (nothing stored or sent)")
    a.add_argument("rule")
    a.add_argument("--since", required=True, help="start (ISO date/time, UTC)")
    a.add_argument("--until", help="end (default: now)")
    a.add_argument("--tenant", help="only this tenant's events")
    a = asub.add_parser("list", parents=[common], help="fired alerts, newest first")
    a.add_argument("--tenant", help="only this tenant's alerts")
    a.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.set_defaults(func=cmd_alert)


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise ValueError(f"{v!r}: write PARAM=VALUE, e.g. threshold=5")
        out[key.strip()] = value.strip()
    return out


def _alert_rows(alerts: list[Any], tested: bool = False) -> tuple[list[list[str]], tuple]:
    from gateway.cli.common import shown_time

    rows = [[str(a.id or "-"), shown_time(a.at), a.rule, a.tenant or "-", a.subject,
             a.summary, str(a.repeats)] + ([] if tested else [
                 ", ".join(f"{k}={v}" for k, v in sorted(a.delivery.items())) or "-"])
            for a in alerts]
    heads = ("id", "at", "rule", "tenant", "subject", "summary", "repeats")
    return rows, heads + (() if tested else ("delivery",))


def cmd_alert(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.alerts import ops
    from gateway.cli.common import emit, open_core, parse_when
    from gateway.textout import table

    with open_core(cfg) as core:
        if args.alert_cmd == "list":
            alerts = ops.list_alerts(core, args.tenant, args.limit)
            emit(args, [a.payload() | {"delivery": a.delivery, "repeats": a.repeats}
                        for a in alerts], table(*_alert_rows(alerts)) if alerts
                 else "no alerts fired")
            return 0
        if args.rule_cmd == "list":
            rules = ops.list_rules(core, args.tenant)
            emit(args, rules, table(
                [[r["rule"], "on" if r["params"]["enabled"] else "off",
                  ", ".join(f"{k}={v}" + ("*" if k in r["overridden"] else "")
                            for k, v in r["params"].items() if k != "enabled"),
                  r["description"]] for r in rules],
                ("rule", "state", "parameters (* = tenant override)", "detects")))
            return 0
        if args.rule_cmd == "set":
            r = ops.set_rule(core, args.tenant, args.rule, _pairs(args.values), args.reset)
            emit(args, r, f"rule {r['rule']} of {r['tenant']}: " + ", ".join(
                f"{k}={v}" for k, v in r["params"].items()))
            return 0
        since = parse_when(args.since)
        until = parse_when(args.until) or datetime.now(UTC)
        alerts = ops.test_rule(core, args.rule, since=since, until=until,  # type: ignore[arg-type]
                               tenant=args.tenant)
        emit(args, [a.payload() | {"repeats": a.repeats} for a in alerts],
             table(*_alert_rows(alerts, tested=True)) if alerts
             else f"rule {args.rule} would fire nothing in that range")
    return 0
