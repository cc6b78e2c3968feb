"""``key``, ``totp`` and ``app-password``: the credentials of users (registered by
``gateway.cli.main``). Secrets (app passwords, TOTP secrets, recovery codes) are printed
once and never logged; every change is audited.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from gateway.cli.common import (
    audit_change,
    emit,
    expiry,
    open_core,
    optional_list,
    shown_time,
    split_login,
    user_command,
)
from gateway.config import Config
from gateway.textout import table


# --- SSH keys -------------------------------------------------------------------------------
def cmd_key(args: argparse.Namespace, cfg: Config) -> int:
    from gateway import credentials_admin
    from gateway.policy import sshkeys

    with open_core(cfg) as core:
        user, tenant = split_login(args.login)
        if args.action == "add":
            if args.key == "-":
                line = sys.stdin.readline()
            elif args.key.startswith(("ssh-", "ecdsa-", "sk-")):
                line = args.key
            else:
                with open(args.key, encoding="utf-8") as f:
                    line = f.readline()
            k = credentials_admin.add_ssh_key(
                core, tenant, user, line, networks=optional_list(args.networks),
                expires_at=expiry(args.expires), comment=args.comment)
            emit(args, k, f"added {k.key_type} key {k.fingerprint} to {args.login}")
        elif args.action == "list":
            keys = sshkeys.list_keys(core, tenant, user)
            emit(args, keys, table(
                [[k.fingerprint, k.key_type, k.comment, ",".join(k.networks) or "-",
                  shown_time(k.expires_at), shown_time(k.last_used_at, "never")]
                 for k in keys], ("fingerprint", "type", "comment", "networks", "expires",
                                  "last used")))
        elif args.action == "remove":
            credentials_admin.remove_ssh_key(core, tenant, user, args.fingerprint)
            emit(args, {"removed": args.fingerprint}, f"removed {args.fingerprint}")
    return 0


# --- TOTP -----------------------------------------------------------------------------------
def cmd_totp(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.policy import totp

    with open_core(cfg) as core:
        user, tenant = split_login(args.login)
        if args.action == "enroll":
            e = totp.enroll(core, tenant, user)
            audit_change(core, "totp-enroll", args.login, reason="awaiting confirmation")
            emit(args, {"uri": e.uri, "secret": e.secret},
                  f"{e.qr}\n{e.uri}\nsecret (manual entry): {e.secret}\n"
                  f"Scan it, then confirm with: lumanox-gateway totp confirm {args.login} CODE\n"
                  "(TOTP is enforced only after confirmation)")
        elif args.action == "confirm":
            codes = totp.confirm(core, tenant, user, args.code)
            audit_change(core, "totp-confirm", args.login, reason="TOTP enforced")
            emit(args, {"confirmed": True, "recovery_codes": codes},
                  "TOTP confirmed and enforced from now on.\nrecovery codes (each works once; "
                  "shown once):\n" + "\n".join(f"  {c}" for c in codes))
        elif args.action == "disable":
            done = totp.disable(core, tenant, user)
            audit_change(core, "totp-disable", args.login,
                         reason="removed" if done else "was not set up")
            emit(args, {"disabled": done}, f"TOTP of {args.login} "
                 + ("removed" if done else "was not set up"))
        elif args.action == "recovery-codes":
            codes = totp.new_recovery_codes(core, tenant, user)
            audit_change(core, "totp-recovery-codes", args.login, reason=f"{len(codes)} new codes")
            emit(args, {"recovery_codes": codes}, "new recovery codes (old ones no longer "
                  "work; shown once):\n" + "\n".join(f"  {c}" for c in codes))
    return 0


# --- app passwords ------------------------------------------------------------------------------
def _create_app_password(core, tenant: str, user: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """App passwords are created after a TOTP-verified step when the user has TOTP (the
    code is asked for on a terminal when ``--code`` is missing)."""
    from gateway import credentials_admin

    options = dict(read_only=args.read_only, prefix=args.prefix,
                   networks=optional_list(args.networks), expires_at=expiry(args.expires))
    try:
        return credentials_admin.create_app_password(core, tenant, user, args.label,
                                                     code=args.code, **options)
    except credentials_admin.SecondFactorNeeded:
        if args.code is not None or not sys.stdin.isatty():
            raise
        import getpass

        return credentials_admin.create_app_password(
            core, tenant, user, args.label, code=getpass.getpass("current TOTP code: "),
            **options)


def cmd_app_password(args: argparse.Namespace, cfg: Config) -> int:
    from gateway import credentials_admin
    from gateway.policy import apppasswords

    with open_core(cfg) as core:
        user, tenant = split_login(args.login)
        if args.action == "create":
            ap, secret = _create_app_password(core, tenant, user, args)
            emit(args, {"app_password": ap, "secret": secret},
                  f"app password {ap.label!r} ({ap.id[:8]}) for {args.login}:\n  {secret}\n"
                  "shown once: use it as the WebDAV password of this device")
        elif args.action == "list":
            aps = apppasswords.list_for(core, tenant, user)
            now = datetime.now(UTC)
            emit(args, aps, table(
                [[a.id[:8], a.label, ("read-only " if a.read_only else "") + a.prefix,
                  ",".join(a.networks) or "-",
                  shown_time(a.expires_at), shown_time(a.last_used_at, "never"),
                  "active" if a.active(now) else ("revoked" if a.revoked_at else "expired")]
                 for a in aps], ("id", "label", "scope", "networks", "expires", "last used",
                                 "state")))
        elif args.action == "revoke":
            credentials_admin.revoke_app_password(core, tenant, user, args.ident)
            emit(args, {"revoked": args.ident}, f"revoked {args.ident}")
    return 0



def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the credential subcommands."""
    k = sub.add_parser("key", parents=[common], help="users' SSH public keys")
    ksub = k.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = user_command(ksub, "add", common, "add a public key to a user")
    a.add_argument("key", help="a .pub file, the key line itself, or - for stdin")
    a.add_argument("--networks")
    a.add_argument("--expires", help="date or duration (90d)")
    a.add_argument("--comment")
    user_command(ksub, "list", common, "a user's keys")
    a = user_command(ksub, "remove", common, "remove a key by fingerprint")
    a.add_argument("fingerprint")
    k.set_defaults(func=cmd_key)

    t = sub.add_parser("totp", parents=[common], help="TOTP second factor of a user")
    tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("enroll", "new TOTP secret (QR code); enforced after confirm"),
                         ("disable", "remove a user's TOTP"),
                         ("recovery-codes", "replace a user's recovery codes")):
        user_command(tsub, action, common, text)
    a = user_command(tsub, "confirm", common, "confirm enrolment with a code")
    a.add_argument("code")
    t.set_defaults(func=cmd_totp)

    ap = sub.add_parser("app-password", parents=[common], help="WebDAV app passwords")
    asub = ap.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = user_command(asub, "create", common, "a new app password (shown once)")
    a.add_argument("--label", required=True)
    a.add_argument("--read-only", action="store_true")
    a.add_argument("--prefix", default="/", help="limit to this folder")
    a.add_argument("--networks")
    a.add_argument("--expires", help="date or duration (90d)")
    a.add_argument("--code", help="current TOTP code (asked for when omitted on a terminal)")
    user_command(asub, "list", common, "a user's app passwords")
    a = user_command(asub, "revoke", common, "revoke an app password")
    a.add_argument("ident", help="id (prefix) or label")
    ap.set_defaults(func=cmd_app_password)
