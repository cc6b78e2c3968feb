"""``webhook add|list|remove`` and ``event rule add|list|remove``, ``event list``: webhook
endpoints, event notification rules and the delivery outbox (gateway/notify). A webhook's
secret is printed once, at ``add``; every change is audited by the service functions."""

from __future__ import annotations

import argparse

from gateway.cli.common import csv_list, emit, open_core, shown_time
from gateway.config import Config
from gateway.errors import ConfigError
from gateway.textout import table


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("webhook", parents=[common], help="webhook endpoints (signed POSTs)")
    wsub = p.add_subparsers(dest="action", required=True)
    a = wsub.add_parser("add", parents=[common], help="add an endpoint; prints its secret once")
    a.add_argument("--tenant", help="the tenant whose events it receives")
    a.add_argument("--operator", action="store_true",
                   help="an endpoint of no tenant (operator alerts) instead of --tenant")
    a.add_argument("--url", required=True, help="https://... (http:// only to loopback)")
    a.add_argument("--events", help="kinds it takes, comma-separated (default: all), e.g. "
                   "file.uploaded,file.deleted")
    a = wsub.add_parser("list", parents=[common], help="endpoints (never their secrets)")
    a.add_argument("--tenant", help="only this tenant's")
    a = wsub.add_parser("remove", parents=[common], help="remove an endpoint and its rules")
    a.add_argument("id", help="the endpoint id (from `webhook list`)")
    p.set_defaults(func=cmd_webhook)

    p = sub.add_parser("event", parents=[common],
                       help="event notification rules and the delivery outbox")
    esub = p.add_subparsers(dest="action", required=True)
    a = esub.add_parser("list", parents=[common], help="queued, delivered and dead deliveries")
    a.add_argument("--tenant", help="only this tenant's")
    a.add_argument("--state", choices=("pending", "delivered", "dead"))
    a.add_argument("--limit", type=int, default=100, help="newest N (default 100)")
    a = esub.add_parser("show", parents=[common], help="one delivery and all its attempts")
    a.add_argument("id", type=int, help="the outbox id (from `event list`)")
    r = esub.add_parser("rule", parents=[common], help="add, list or remove event rules")
    rsub = r.add_subparsers(dest="rule_action", required=True)
    a = rsub.add_parser("add", parents=[common], help="notify a webhook of events in a folder")
    a.add_argument("--tenant", required=True)
    a.add_argument("--path", default="/", help="folder (and below); default: the whole tenant")
    a.add_argument("--on", default="upload", help="upload,download,delete (default upload)")
    a.add_argument("--webhook", required=True, help="endpoint id (from `webhook list`)")
    a = rsub.add_parser("list", parents=[common], help="the rules")
    a.add_argument("--tenant", help="only this tenant's")
    a = rsub.add_parser("remove", parents=[common], help="remove a rule")
    a.add_argument("id", help="the rule id (from `event rule list`)")
    p.set_defaults(func=cmd_event)


def cmd_webhook(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.notify import webhooks

    with open_core(cfg) as core:
        if args.action == "add":
            if bool(args.tenant) == bool(args.operator):
                raise ConfigError("name the owner: `webhook add --tenant T --url U`, or "
                                  "`--operator` for an endpoint of no tenant")
            new = webhooks.add_endpoint(core, args.tenant, args.url,
                                        csv_list(args.events) if args.events else None)
            ep = new.endpoint
            emit(args, {**vars(ep), "secret": new.secret},
                 f"added webhook {ep.id} -> {ep.url}\nsecret: {new.secret}\n"
                 "(shown once: the receiver verifies the webhook-signature header with it)")
        elif args.action == "list":
            eps = webhooks.list_endpoints(core, args.tenant)
            emit(args, eps, table([[e.id, e.tenant or "(operator)", e.url,
                                    ",".join(e.events) or "all", shown_time(e.created_at)]
                                   for e in eps],
                                  ("id", "tenant", "url", "events", "created")))
        else:
            ep = webhooks.remove_endpoint(core, args.id)
            emit(args, {"removed": ep.id}, f"removed webhook {ep.id} ({ep.url})")
    return 0


def cmd_event(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.notify import events, outbox, registry

    with open_core(cfg) as core:
        if args.action == "list":
            tid = None
            if args.tenant:
                with core.catalog.read() as conn:
                    tid = registry.tenant_id(conn, args.tenant)[0]
            items = outbox.list_entries(core.catalog, tenant_id=tid, state=args.state,
                                        limit=args.limit)
            emit(args, items, table(
                [[str(e.id), e.kind, e.target, e.state, str(e.attempts),
                  shown_time(e.created_at), e.last_error or ""] for e in items],
                ("id", "kind", "target", "state", "attempts", "queued", "last error")))
        elif args.action == "show":
            item = outbox.get_entry(core.catalog, args.id)
            tries = outbox.attempts_of(core.catalog, args.id)
            emit(args, {**vars(item), "attempts_log": tries},
                 f"#{item.id} {item.kind} -> {item.target}: {item.state} after "
                 f"{item.attempts} attempt(s)\n" + table(
                     [[shown_time(t["at"]), "ok" if t["ok"] else "failed",
                       str(t["status"] or ""), str(t["duration_ms"]), t["error"] or ""]
                      for t in tries], ("at", "result", "status", "ms", "error")))
        elif args.rule_action == "add":
            rule = events.add_rule(core, args.tenant, args.path, csv_list(args.on),
                                   args.webhook)
            emit(args, rule, f"added rule {rule.id}: {','.join(rule.events)} in "
                             f"{rule.path} of {rule.tenant} -> webhook {rule.webhook_id}")
        elif args.rule_action == "list":
            rules = events.list_rules(core, args.tenant)
            emit(args, rules, table([[r.id, r.tenant, r.path, ",".join(r.events),
                                      r.webhook_id] for r in rules],
                                    ("id", "tenant", "path", "on", "webhook")))
        else:
            rule = events.remove_rule(core, args.id)
            emit(args, {"removed": rule.id}, f"removed rule {rule.id}")
    return 0
