"""``lumanox-gateway locks list|break``: see and lift WebDAV locks (breaks are audited)."""

from __future__ import annotations

import argparse

from gateway.config import Config
from gateway.errors import ConfigError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("locks", parents=[common], help="list or break WebDAV locks")
    lsub = p.add_subparsers(dest="action", required=True)
    a = lsub.add_parser("list", parents=[common], help="unexpired locks, by tenant and path")
    a.add_argument("--tenant", help="only this tenant's locks")
    a = lsub.add_parser("break", parents=[common],
                        help="break TOKEN, or --tenant T --all [--path P]")
    a.add_argument("token", nargs="?", help="the lock token (from `locks list`)")
    a.add_argument("--tenant", help="break this tenant's locks (with --all)")
    a.add_argument("--all", action="store_true", help="every lock of --tenant")
    a.add_argument("--path", help="with --all: only locks on this path and below")
    p.set_defaults(func=cmd_locks)


def cmd_locks(args: argparse.Namespace, cfg: Config) -> int:
    from gateway import locks_admin
    from gateway.cli.common import emit, open_core
    from gateway.textout import table

    with open_core(cfg) as core:
        if args.action == "list":
            locks = locks_admin.list_locks(core, args.tenant)
            emit(args, locks, table(
                [[lk.tenant, lk.path, lk.depth, lk.scope, lk.principal,
                  lk.expires_at.isoformat(timespec="seconds"), lk.token] for lk in locks],
                ("tenant", "path", "depth", "scope", "held by", "expires", "token")))
            return 0
        if args.token and not (args.all or args.tenant or args.path):
            lk = locks_admin.break_lock(core, args.token)
            emit(args, [lk], f"broke the lock on {lk.path} of {lk.tenant} (held by "
                              f"{lk.principal or 'unknown'})")
            return 0
        if args.token or not (args.tenant and args.all):
            raise ConfigError("name one lock: `locks break TOKEN`, or all of a tenant's: "
                              "`locks break --tenant T --all [--path P]`")
        broken = locks_admin.break_tenant_locks(core, args.tenant, args.path)
        emit(args, broken, f"broke {len(broken)} lock(s) of {args.tenant}")
    return 0
