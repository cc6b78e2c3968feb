"""``policy`` and ``defender``: the connection policy of tenants and users, and the
brute-force bans (registered by ``gateway.cli.main``).

``policy show|set|set-user|ldap|explain``, ``defender list|unban``. Every change is audited
(``audit_change``: the policy modules do not audit it themselves).
"""

from __future__ import annotations

import argparse
import json
import sys

from gateway.cli.common import (
    audit_change,
    emit,
    expiry,
    open_core,
    optional_list,
    parse_duration,
    split_login,
    user_command,
)
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import table


def _methods(args: argparse.Namespace) -> dict[str, list[str]] | None:
    out = {}
    for proto in ("webdav", "sftp", "scp"):
        value = optional_list(getattr(args, f"methods_{proto}", None))
        if value is not None:
            out[proto] = value
    return out or None


# --- policy -------------------------------------------------------------------------------
def cmd_policy(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy import manage

    with open_core(cfg) as core:
        if args.action == "show":
            emit(args, manage.show(core, args.tenant),
                  "\n".join(manage.summary_lines(core, args.tenant)))
        elif args.action == "set":
            manage.set_tenant_policy(
                core, args.tenant, methods=_methods(args), identity=args.identity,
                second_factor=args.second_factor,
                grace=parse_duration(args.grace) if args.grace is not None else None,
                networks=optional_list(args.networks), max_sessions=args.max_sessions,
                max_sessions_per_user=args.max_sessions_per_user)
            emit(args, manage.show(core, args.tenant),
                  "\n".join(manage.summary_lines(core, args.tenant)))
        elif args.action == "set-user":
            user, tenant = split_login(args.login)
            p = manage.set_user_policy(
                core, tenant, user, protocols=optional_list(args.protocols), methods=_methods(args),
                networks=optional_list(args.networks), max_sessions=args.max_sessions,
                second_factor=args.second_factor)
            if args.expires is not None:
                from gateway import admin

                admin.set_user(core, tenant, user, expires_at=expiry(args.expires)
                               if args.expires.lower() != "never" else None)
            emit(args, p, f"policy of {args.login}: {json.dumps(manage.to_dict(p))}")
        elif args.action == "ldap":
            password = sys.stdin.readline().rstrip("\n") if args.bind_password_stdin else None
            group_map = json.loads(args.group_map) if args.group_map else None
            s = manage.set_ldap(
                core, args.tenant, bind_password=password, urls=args.url or None,
                base_dn=args.base_dn, bind_dn=args.bind_dn, ca_file=args.ca_file,
                user_attr=args.user_attr, group_base_dn=args.group_base_dn,
                group_map=group_map, timeout_s=args.timeout,
                starttls=None if args.starttls is None else args.starttls)
            data = manage.to_dict(manage.get_tenant_policy(core, args.tenant))["ldap"]
            data["bind_password_sealed"] = "set" if s.bind_password_sealed else ""
            emit(args, data, f"LDAP of {args.tenant}: {', '.join(s.urls)} base {s.base_dn}; "
                  f"service password {'set' if s.bind_password_sealed else 'NOT set'}")
        elif args.action == "explain":
            res = manage.explain(core, args.login, args.protocol, args.source, args.method)
            emit(args, [{"step": label, "verdict": d.verdict.value, "reason": d.reason,
                          "next_methods": list(d.next_methods),
                          "rules": [r.__dict__ for r in d.rules]} for label, d in res],
                 manage.explain_text(res))
    return 0


# --- defender -----------------------------------------------------------------------------
def cmd_defender(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy.defender import Defender

    with open_core(cfg) as core:
        d = Defender(core)
        if args.action == "list":
            entries = d.list()
            emit(args, entries, table(
                [[e.key, f"{e.score:g}", e.banned_until.isoformat(timespec="seconds")
                  if e.banned_until else "-", str(e.ban_count)] for e in entries],
                ("key", "score", "banned until", "bans")))
        elif args.action == "unban":
            if not d.unban(args.key):
                raise GatewayError(f"{args.key!r} is not listed: see `defender list`")
            tenant = args.key[5:].split("/")[0] if args.key.startswith("acct:") else None
            audit_change(core, "unban", tenant=tenant, reason=f"lifted {args.key}")
            emit(args, {"unbanned": args.key}, f"unbanned {args.key}")
    return 0


def _method_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--methods-webdav", help="comma list of password,app-password")
    a.add_argument("--methods-sftp", help="comma list of password,publickey,keyboard-interactive")
    a.add_argument("--methods-scp", help="comma list of password,publickey,keyboard-interactive")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the policy subcommands."""
    p = sub.add_parser("policy", parents=[common], help="tenant/user connection policy")
    psub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    psub.add_parser("show", parents=[common], help="a tenant's policy").add_argument("tenant")
    a = psub.add_parser("set", parents=[common], help="change a tenant's policy")
    a.add_argument("tenant")
    _method_args(a)
    a.add_argument("--identity", choices=("local", "ldap", "ldap+local"))
    a.add_argument("--second-factor", choices=("off", "required"))
    a.add_argument("--grace", help="enrolment grace from now, e.g. 7d (0 ends it)")
    a.add_argument("--networks", help="comma list of CIDRs; 'any' removes the restriction")
    a.add_argument("--max-sessions", type=int, help="0 removes the limit")
    a.add_argument("--max-sessions-per-user", type=int, help="0 removes the limit")
    a = user_command(psub, "set-user", common, "narrow one user's policy")
    a.add_argument("--protocols", help="comma list (subset of the tenant's); 'any' = tenant's")
    _method_args(a)
    a.add_argument("--networks", help="comma list of CIDRs inside the tenant's; 'any' clears")
    a.add_argument("--max-sessions", type=int)
    a.add_argument("--second-factor", choices=("inherit", "required"))
    a.add_argument("--expires", help="account expiry: date or duration (90d)")
    a = psub.add_parser("ldap", parents=[common], help="configure a tenant's LDAP directory")
    a.add_argument("tenant")
    a.add_argument("--url", action="append", help="ldap://host:389 (StartTLS) or ldaps://; "
                   "repeat for failover, in order")
    a.add_argument("--base-dn")
    a.add_argument("--bind-dn")
    a.add_argument("--bind-password-stdin", action="store_true")
    a.add_argument("--ca-file")
    a.add_argument("--user-attr")
    a.add_argument("--group-base-dn")
    a.add_argument("--group-map", help='JSON: {"cn": [{"prefix": "/", "perms": ["read"]}]}')
    a.add_argument("--timeout", type=float)
    a.add_argument("--no-starttls", dest="starttls", action="store_false", default=None)
    a = user_command(psub, "explain", common, "print a decision and its rules")
    a.add_argument("--protocol", required=True, choices=("webdav", "sftp", "scp"))
    a.add_argument("--from", dest="source", required=True, help="client address")
    a.add_argument("--method", choices=("password", "publickey", "keyboard-interactive",
                                        "app-password"))
    p.set_defaults(func=cmd_policy)

    d = sub.add_parser("defender", parents=[common], help="brute-force bans")
    dsub = d.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("list", parents=[common], help="scores and current bans")
    dsub.add_parser("unban", parents=[common], help="lift a ban now").add_argument(
        "key", help="an address, addr:IP or acct:TENANT/USER")
    d.set_defaults(func=cmd_defender)
