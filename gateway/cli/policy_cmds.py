"""CLI commands of the identity and policy layer (registered by ``gateway.cli.main``).

``policy show|set|set-user|ldap|explain``, ``defender list|unban``, ``key add|list|remove``,
``totp enroll|confirm|disable|recovery-codes``, ``app-password create|list|revoke``.
Secrets (app passwords, TOTP secrets, recovery codes) are printed once and never logged.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.config import Config
from gateway.errors import ConfigError, GatewayError

_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise ConfigError(f"{text!r} is not a duration: write e.g. 30m, 12h, 7d or 0")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def _when(text: str | None) -> datetime | None:
    """An expiry: an ISO date/time or a duration from now (``30d``)."""
    if not text:
        return None
    if _DURATION.match(text.strip().lower()):
        return datetime.now(UTC) + _duration(text)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r}: write a date (2027-01-31) or a duration (90d)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    if text.strip().lower() in ("", "none", "any"):
        return []
    return [p.strip() for p in text.split(",") if p.strip()]


def _core(cfg: Config):  # type: ignore[no-untyped-def]
    from gateway.cli.common import open_core

    return open_core(cfg)


def _emit(args: argparse.Namespace, data: Any, human: str) -> None:
    from gateway.cli.common import emit

    emit(args, data, human)


def _audit(core, action: str, login: str | None = None, *, tenant: str | None = None,  # type: ignore[no-untyped-def]
           reason: str | None = None) -> None:
    """Audit a change these commands make (the policy modules do not audit it themselves).
    ``reason`` must never carry a secret."""
    from gateway.admin import record_admin_action

    user = None
    if login is not None:
        user, tenant = _login(login)
    record_admin_action(core, action, tenant=tenant, path=user, reason=reason)


def _login(text: str) -> tuple[str, str]:
    from gateway.admin import split_login

    return split_login(text)


def _methods(args: argparse.Namespace) -> dict[str, list[str]] | None:
    out = {}
    for proto in ("webdav", "sftp", "scp"):
        value = _csv(getattr(args, f"methods_{proto}", None))
        if value is not None:
            out[proto] = value
    return out or None


# --- policy -------------------------------------------------------------------------------
def cmd_policy(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy import manage

    with _core(cfg) as core:
        if args.action == "show":
            _emit(args, manage.show(core, args.tenant),
                  "\n".join(manage.summary_lines(core, args.tenant)))
        elif args.action == "set":
            manage.set_tenant_policy(
                core, args.tenant, methods=_methods(args), identity=args.identity,
                second_factor=args.second_factor,
                grace=_duration(args.grace) if args.grace is not None else None,
                networks=_csv(args.networks), max_sessions=args.max_sessions,
                max_sessions_per_user=args.max_sessions_per_user)
            _emit(args, manage.show(core, args.tenant),
                  "\n".join(manage.summary_lines(core, args.tenant)))
        elif args.action == "set-user":
            user, tenant = _login(args.login)
            p = manage.set_user_policy(
                core, tenant, user, protocols=_csv(args.protocols), methods=_methods(args),
                networks=_csv(args.networks), max_sessions=args.max_sessions,
                second_factor=args.second_factor)
            if args.expires is not None:
                from gateway import admin

                admin.set_user(core, tenant, user, expires_at=_when(args.expires)
                               if args.expires.lower() != "never" else None)
            _emit(args, p, f"policy of {args.login}: {json.dumps(manage.to_dict(p))}")
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
            _emit(args, data, f"LDAP of {args.tenant}: {', '.join(s.urls)} base {s.base_dn}; "
                  f"service password {'set' if s.bind_password_sealed else 'NOT set'}")
        elif args.action == "explain":
            res = manage.explain(core, args.login, args.protocol, args.source, args.method)
            _emit(args, [{"step": label, "verdict": d.verdict.value, "reason": d.reason,
                          "next_methods": list(d.next_methods),
                          "rules": [r.__dict__ for r in d.rules]} for label, d in res],
                  manage.explain_text(res))
    return 0


# --- defender -----------------------------------------------------------------------------
def cmd_defender(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy.defender import Defender
    from gateway.textout import table

    with _core(cfg) as core:
        d = Defender(core)
        if args.action == "list":
            entries = d.list()
            _emit(args, entries, table(
                [[e.key, f"{e.score:g}", e.banned_until.isoformat(timespec="seconds")
                  if e.banned_until else "-", str(e.ban_count)] for e in entries],
                ("key", "score", "banned until", "bans")))
        elif args.action == "unban":
            if not d.unban(args.key):
                raise GatewayError(f"{args.key!r} is not listed: see `defender list`")
            tenant = args.key[5:].split("/")[0] if args.key.startswith("acct:") else None
            _audit(core, "unban", tenant=tenant, reason=f"lifted {args.key}")
            _emit(args, {"unbanned": args.key}, f"unbanned {args.key}")
    return 0


# --- SSH keys -------------------------------------------------------------------------------
def cmd_key(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy import sshkeys
    from gateway.textout import table

    with _core(cfg) as core:
        user, tenant = _login(args.login)
        if args.action == "add":
            if args.key == "-":
                line = sys.stdin.readline()
            elif args.key.startswith(("ssh-", "ecdsa-", "sk-")):
                line = args.key
            else:
                with open(args.key, encoding="utf-8") as f:
                    line = f.readline()
            k = sshkeys.add_key(core, tenant, user, line, networks=_csv(args.networks),
                                expires_at=_when(args.expires), comment=args.comment)
            _audit(core, "ssh-key-add", args.login, reason=f"{k.key_type} {k.fingerprint}")
            _emit(args, k, f"added {k.key_type} key {k.fingerprint} to {args.login}")
        elif args.action == "list":
            keys = sshkeys.list_keys(core, tenant, user)
            _emit(args, keys, table(
                [[k.fingerprint, k.key_type, k.comment, ",".join(k.networks) or "-",
                  k.expires_at.isoformat(timespec="seconds") if k.expires_at else "-",
                  k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "never"]
                 for k in keys], ("fingerprint", "type", "comment", "networks", "expires",
                                  "last used")))
        elif args.action == "remove":
            sshkeys.remove_key(core, tenant, user, args.fingerprint)
            _audit(core, "ssh-key-remove", args.login, reason=args.fingerprint)
            _emit(args, {"removed": args.fingerprint}, f"removed {args.fingerprint}")
    return 0


# --- TOTP -----------------------------------------------------------------------------------
def cmd_totp(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy import totp

    with _core(cfg) as core:
        user, tenant = _login(args.login)
        if args.action == "enroll":
            e = totp.enroll(core, tenant, user)
            _audit(core, "totp-enroll", args.login, reason="awaiting confirmation")
            _emit(args, {"uri": e.uri, "secret": e.secret},
                  f"{e.qr}\n{e.uri}\nsecret (manual entry): {e.secret}\n"
                  f"Scan it, then confirm with: lumanox-gateway totp confirm {args.login} CODE\n"
                  "(TOTP is enforced only after confirmation)")
        elif args.action == "confirm":
            codes = totp.confirm(core, tenant, user, args.code)
            _audit(core, "totp-confirm", args.login, reason="TOTP enforced")
            _emit(args, {"confirmed": True, "recovery_codes": codes},
                  "TOTP confirmed and enforced from now on.\nrecovery codes (each works once; "
                  "shown once):\n" + "\n".join(f"  {c}" for c in codes))
        elif args.action == "disable":
            done = totp.disable(core, tenant, user)
            _audit(core, "totp-disable", args.login,
                   reason="removed" if done else "was not set up")
            _emit(args, {"disabled": done}, f"TOTP of {args.login} "
                  + ("removed" if done else "was not set up"))
        elif args.action == "recovery-codes":
            codes = totp.new_recovery_codes(core, tenant, user)
            _audit(core, "totp-recovery-codes", args.login, reason=f"{len(codes)} new codes")
            _emit(args, {"recovery_codes": codes}, "new recovery codes (old ones no longer "
                  "work; shown once):\n" + "\n".join(f"  {c}" for c in codes))
    return 0


# --- app passwords ------------------------------------------------------------------------------
def _require_second_factor(core, tenant: str, user: str, code: str | None) -> None:  # type: ignore[no-untyped-def]
    """App passwords are created after a TOTP-verified step when the user has TOTP."""
    from gateway.policy import totp
    from gateway.policy.decision import needs_totp
    from gateway.policy.gate import Gate

    facts = Gate(core).load("webdav", tenant, user, "127.0.0.1").facts
    if facts.user is None:
        raise GatewayError(f"no user {user}@{tenant}")
    if facts.user.totp_enrolled:
        if code is None:
            if not sys.stdin.isatty():
                raise GatewayError("this user has TOTP: pass --code CODE (a current code)")
            import getpass

            code = getpass.getpass("current TOTP code: ")
        assert facts.tenant is not None
        if not totp.verify(core, facts.tenant.id, facts.user.id, code):
            raise GatewayError("the TOTP code is wrong, expired or already used; nothing created")
    elif facts.user.kind == "human" and needs_totp(replace_grace(facts))[0]:
        raise GatewayError(f"{user}@{tenant} must enrol TOTP first (`totp enroll`): app "
                           "passwords are created after a TOTP-verified step")


def replace_grace(facts):  # type: ignore[no-untyped-def]
    """Facts as if the enrolment grace were over (a grace period does not waive TOTP for
    creating a long-lived credential)."""
    from dataclasses import replace

    assert facts.tenant is not None
    return replace(facts, tenant=replace(facts.tenant, policy=replace(
        facts.tenant.policy, grace_until=None)))


def cmd_app_password(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy import apppasswords
    from gateway.textout import table

    with _core(cfg) as core:
        user, tenant = _login(args.login)
        if args.action == "create":
            _require_second_factor(core, tenant, user, args.code)
            ap, secret = apppasswords.create(
                core, tenant, user, args.label, read_only=args.read_only,
                prefix=args.prefix, networks=_csv(args.networks), expires_at=_when(args.expires))
            _audit(core, "app-password-create", args.login,
                   reason=f"{ap.id[:8]} {ap.label!r}" + (" read-only" if ap.read_only else ""))
            _emit(args, {"app_password": ap, "secret": secret},
                  f"app password {ap.label!r} ({ap.id[:8]}) for {args.login}:\n  {secret}\n"
                  "shown once: use it as the WebDAV password of this device")
        elif args.action == "list":
            aps = apppasswords.list_for(core, tenant, user)
            now = datetime.now(UTC)
            _emit(args, aps, table(
                [[a.id[:8], a.label, ("read-only " if a.read_only else "") + a.prefix,
                  ",".join(a.networks) or "-",
                  a.expires_at.isoformat(timespec="seconds") if a.expires_at else "-",
                  a.last_used_at.isoformat(timespec="seconds") if a.last_used_at else "never",
                  "active" if a.active(now) else ("revoked" if a.revoked_at else "expired")]
                 for a in aps], ("id", "label", "scope", "networks", "expires", "last used",
                                 "state")))
        elif args.action == "revoke":
            apppasswords.revoke(core, tenant, user, args.ident)
            _audit(core, "app-password-revoke", args.login, reason=args.ident)
            _emit(args, {"revoked": args.ident}, f"revoked {args.ident}")
    return 0


# --- parser -------------------------------------------------------------------------------
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
    a = psub.add_parser("set-user", parents=[common], help="narrow one user's policy")
    a.add_argument("login", metavar="USER@TENANT")
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
    a = psub.add_parser("explain", parents=[common], help="print a decision and its rules")
    a.add_argument("login", metavar="USER@TENANT")
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

    k = sub.add_parser("key", parents=[common], help="users' SSH public keys")
    ksub = k.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = ksub.add_parser("add", parents=[common], help="add a public key to a user")
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("key", help="a .pub file, the key line itself, or - for stdin")
    a.add_argument("--networks")
    a.add_argument("--expires", help="date or duration (90d)")
    a.add_argument("--comment")
    ksub.add_parser("list", parents=[common], help="a user's keys").add_argument(
        "login", metavar="USER@TENANT")
    a = ksub.add_parser("remove", parents=[common], help="remove a key by fingerprint")
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("fingerprint")
    k.set_defaults(func=cmd_key)

    t = sub.add_parser("totp", parents=[common], help="TOTP second factor of a user")
    tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("enroll", "new TOTP secret (QR code); enforced after confirm"),
                         ("disable", "remove a user's TOTP"),
                         ("recovery-codes", "replace a user's recovery codes")):
        tsub.add_parser(action, parents=[common], help=text).add_argument(
            "login", metavar="USER@TENANT")
    a = tsub.add_parser("confirm", parents=[common], help="confirm enrolment with a code")
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("code")
    t.set_defaults(func=cmd_totp)

    ap = sub.add_parser("app-password", parents=[common], help="WebDAV app passwords")
    asub = ap.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = asub.add_parser("create", parents=[common], help="a new app password (shown once)")
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("--label", required=True)
    a.add_argument("--read-only", action="store_true")
    a.add_argument("--prefix", default="/", help="limit to this folder")
    a.add_argument("--networks")
    a.add_argument("--expires", help="date or duration (90d)")
    a.add_argument("--code", help="current TOTP code (asked for when omitted on a terminal)")
    asub.add_parser("list", parents=[common], help="a user's app passwords").add_argument(
        "login", metavar="USER@TENANT")
    a = asub.add_parser("revoke", parents=[common], help="revoke an app password")
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("ident", help="id (prefix) or label")
    ap.set_defaults(func=cmd_app_password)
