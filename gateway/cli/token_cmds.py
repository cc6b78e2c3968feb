"""``admin-token create|list|revoke``: bearer tokens of the admin HTTP API
(``gateway.admin_api.tokens``). The secret is printed once and never stored in clear."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from gateway.cli.common import emit, expiry, open_core, shown_time
from gateway.config import Config
from gateway.textout import table


def _row(t, now: datetime) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.id, t.name, t.scope, t.tenant or "*", shown_time(t.expires_at, "never"),
            shown_time(t.last_used_at, "never"), t.state(now)]


HEADERS = ("id", "name", "scope", "tenant", "expires", "last used", "state")


def cmd_token(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.admin_api import tokens

    with open_core(cfg) as core:
        now = datetime.now(UTC)
        if args.action == "create":
            t, secret = tokens.create(core, args.name, args.scope, tenant=args.tenant,
                                      expires_at=expiry(args.expires))
            emit(args, {"token": t, "secret": secret},
                 f"admin token {t.name!r} ({t.id}), scope {t.scope}"
                 f"{' for tenant ' + t.tenant if t.tenant else ''}:\n  {secret}\n"
                 "shown once: send it as `Authorization: Bearer <token>`")
        elif args.action == "list":
            ts = tokens.list_tokens(core)
            emit(args, [{**t.__dict__, "state": t.state(now)} for t in ts],
                 table([_row(t, now) for t in ts], HEADERS))
        elif args.action == "revoke":
            t = tokens.revoke(core, args.ident)
            emit(args, {"revoked": t.id, "name": t.name}, f"revoked admin token {t.name!r} "
                 f"({t.id})")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``admin-token``."""
    p = sub.add_parser("admin-token", parents=[common], help="bearer tokens of the admin API")
    psub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = psub.add_parser("create", parents=[common], help="a new token (secret shown once)")
    a.add_argument("--name", required=True, help="shown in the audit trail as token:NAME")
    a.add_argument("--scope", required=True, choices=("read", "tenants", "users", "reports",
                                                      "all"))
    a.add_argument("--tenant", help="limit the token to this tenant")
    a.add_argument("--expires", help="date or duration (30d); default: never")
    psub.add_parser("list", parents=[common], help="every token (never the secret)")
    psub.add_parser("revoke", parents=[common], help="revoke a token by id or name") \
        .add_argument("ident", metavar="ID")
    p.set_defaults(func=cmd_token)
