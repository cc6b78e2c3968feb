"""``tenant``, ``user`` and ``keys``: administer tenants, users and encryption keys."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from dataclasses import asdict

from gateway import admin
from gateway.cli.common import (
    EXIT_USAGE,
    csv_list,
    emit,
    open_core,
    size_or_none,
    split_login,
    user_command,
)
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import human_size, table


# --- tenants -----------------------------------------------------------------------
def _tenant_row(t: admin.Tenant) -> list[str]:
    quota = human_size(t.quota_bytes) if t.quota_bytes is not None else "unlimited"
    return [t.name, ",".join(t.protocols), "insensitive" if t.case_insensitive else "sensitive",
            f"{human_size(t.used_bytes)} / {quota}", str(t.used_files),
            "disabled" if t.disabled else "active"]


TENANT_HEADERS = ("tenant", "protocols", "names", "used / quota", "files", "state")


def cmd_tenant(args: argparse.Namespace, cfg: Config) -> int:
    with open_core(cfg) as core:
        if args.action == "create":
            t = admin.create_tenant(
                core, args.name, display_name=args.display_name or "",
                protocols=csv_list(args.protocols) if args.protocols else None,
                case_insensitive=not args.case_sensitive,
                quota_bytes=size_or_none(args.quota_bytes), quota_files=args.quota_files)
            emit(args, t, f"created tenant {t.name}")
        elif args.action == "list":
            ts = admin.list_tenants(core)
            emit(args, ts, table([_tenant_row(t) for t in ts], TENANT_HEADERS))
        elif args.action == "show":
            t = admin.get_tenant(core, args.name)
            from gateway.cli.storage_cmds import placement_text
            from gateway.policy import manage
            from gateway.storage_migrate.placement import show_placement

            where = show_placement(core, t.name)
            emit(args, {**asdict(t), "policy": manage.show(core, t.name), "storage": where},
                 table([_tenant_row(t)], TENANT_HEADERS) + "\n"
                 + "\n".join(manage.summary_lines(core, t.name)) + "\n"
                 + placement_text(where))
        elif args.action == "set":
            if args.store is not None or args.regions is not None:
                from gateway.storage_migrate.placement import set_placement

                set_placement(core, args.name, store=args.store,
                              regions=None if args.regions is None else csv_list(args.regions))
            t = admin.set_tenant(
                core, args.name, display_name=args.display_name,
                protocols=csv_list(args.protocols) if args.protocols is not None else None,
                case_insensitive=(None if args.case_sensitive is None
                                  else not args.case_sensitive),
                quota_bytes=size_or_none(args.quota_bytes), quota_files=args.quota_files,
                disabled=args.disabled)
            emit(args, t, table([_tenant_row(t)], TENANT_HEADERS))
        elif args.action == "purge":
            if not args.yes:
                print(f"purging {args.name} destroys its keys and every file for good; "
                      "repeat with --yes", file=sys.stderr)
                return EXIT_USAGE
            n = admin.purge_tenant(core, args.name)
            emit(args, {"tenant": args.name, "blobs_deleted": n},
                  f"purged tenant {args.name}: keys destroyed, {n} blobs deleted")
    return 0


# --- users -----------------------------------------------------------------------
USER_HEADERS = ("user", "kind", "used / quota", "files", "password", "state")


def _user_row(u: admin.User, tenant: str) -> list[str]:
    quota = human_size(u.quota_bytes) if u.quota_bytes is not None else "unlimited"
    return [f"{u.name}@{tenant}", u.kind, f"{human_size(u.used_bytes)} / {quota}",
            str(u.used_files), "set" if u.has_password else "-",
            "disabled" if u.disabled else "active"]


def _read_password(args: argparse.Namespace, *, generate: bool) -> str | None:
    from gateway.policy.passwords import check_strength

    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty() and not generate:
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            raise GatewayError("the two passwords differ; nothing changed")
    elif generate:
        return None
    else:
        raise GatewayError("no password given: use --password-stdin or --generate-password")
    try:
        check_strength(password)
    except ValueError as exc:
        raise GatewayError(f"{exc}; nothing changed") from None
    return password


def cmd_user(args: argparse.Namespace, cfg: Config) -> int:
    with open_core(cfg) as core:
        if args.action == "list":
            names = {t.id: t.name for t in admin.list_tenants(core)}
            us = sorted(admin.list_users(core, args.tenant),
                        key=lambda u: (names.get(u.tenant_id, ""), u.name))
            emit(args, [{**asdict(u), "tenant": names.get(u.tenant_id)} for u in us],
                 table([_user_row(u, names.get(u.tenant_id, "?")) for u in us],
                       USER_HEADERS))
            return 0
        name, tenant = split_login(args.login)
        if args.action == "create":
            password = _read_password(args, generate=args.generate_password) \
                if (args.password_stdin or args.generate_password) else None
            generated = None
            if args.generate_password and password is None:
                password = generated = secrets.token_urlsafe(12)
            u = admin.create_user(core, tenant, name, password=password, kind=args.kind,
                                  permissions=args.permissions,
                                  quota_bytes=size_or_none(args.quota_bytes),
                                  quota_files=args.quota_files)
            msg = f"created user {name}@{tenant}"
            if generated:
                msg += f"\n  password: {generated}   (shown once)"
            emit(args, {"user": u, "password": generated}, msg)
        elif args.action == "show":
            u = admin.get_user(core, tenant, name)
            emit(args, u, table([_user_row(u, tenant)], USER_HEADERS)
                 + f"\npermissions: {u.permissions}")
        elif args.action == "set":
            u = admin.set_user(core, tenant, name, permissions=args.permissions,
                               quota_bytes=size_or_none(args.quota_bytes),
                               quota_files=args.quota_files, kind=args.kind)
            emit(args, u, table([_user_row(u, tenant)], USER_HEADERS))
        elif args.action == "passwd":
            password = _read_password(args, generate=args.generate_password)
            generated = None
            if password is None:
                password = generated = secrets.token_urlsafe(12)
            admin.set_user(core, tenant, name, password=password)
            emit(args, {"user": args.login, "password": generated},
                  f"password of {args.login} changed"
                 + (f"\n  password: {generated}   (shown once)" if generated else ""))
        elif args.action in ("disable", "enable"):
            admin.set_user(core, tenant, name, disabled=args.action == "disable")
            emit(args, {"user": args.login, "disabled": args.action == "disable"},
                  f"{args.login} {args.action}d")
        elif args.action == "delete":
            admin.delete_user(core, tenant, name)
            emit(args, {"user": args.login, "deleted": True}, f"deleted {args.login}")
    return 0


# --- keys -----------------------------------------------------------------------
def cmd_keys(args: argparse.Namespace, cfg: Config) -> int:
    from sqlalchemy import select

    from gateway.catalog.tables import tenant_keys, tenants

    with open_core(cfg) as core:
        if args.action == "list":
            with core.catalog.read() as conn:
                rows = conn.execute(
                    select(tenants.c.name, tenant_keys.c.version, tenant_keys.c.state,
                           tenant_keys.c.master_key_id, tenant_keys.c.created_at)
                    .join(tenants, tenants.c.id == tenant_keys.c.tenant_id)
                    .order_by(tenants.c.name, tenant_keys.c.version)).all()
            data = [dict(r._mapping) for r in rows]
            emit(args, data, f"master key id: {core.keyring.master_key_id}\n" + table(
                [[r.name, str(r.version), r.state, r.master_key_id,
                  r.created_at.isoformat(timespec="seconds")] for r in rows],
                ("tenant", "version", "state", "master key id", "created")))
        elif args.action == "rotate-master":
            n = core.keyring.rotate_master()
            admin.record_admin_action(core, "master-key-rotate",
                                      reason=f"{n} tenant keys re-wrapped; new master key id "
                                      f"{core.keyring.master_key_id}")
            emit(args, {"rewrapped": n, "master_key_id": core.keyring.master_key_id},
                  f"master key replaced ({cfg.master_key_file}); {n} tenant keys re-wrapped; "
                  "back up the new key file now")
        elif args.action == "rotate-tenant":
            t = admin.get_tenant(core, args.tenant)
            version, n = core.keyring.rotate_tenant(t.id)
            admin.record_admin_action(core, "tenant-key-rotate", tenant=t.name,
                                      reason=f"key version {version}; {n} data keys re-wrapped")
            emit(args, {"tenant": t.name, "version": version, "rewrapped": n},
                  f"tenant {t.name}: key version {version} active; {n} data keys re-wrapped "
                  "(content not re-encrypted)")
    return 0




# --- parser -----------------------------------------------------------------------
def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``tenant``, ``user`` and ``keys``."""
    t = sub.add_parser("tenant", parents=[common], help="manage tenants")
    tsub = t.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("create", "create a tenant (its keys and root folder)"),
                         ("set", "change a tenant's protocols, quotas, names or state")):
        a = tsub.add_parser(action, parents=[common], help=text)
        a.add_argument("name")
        a.add_argument("--display-name")
        a.add_argument("--protocols", help="comma list of webdav,sftp,scp")
        a.add_argument("--case-sensitive", action="store_true",
                       default=None if action == "set" else False,
                       help="names differing only in case are different files")
        a.add_argument("--quota-bytes", help="e.g. 50G; 'none' removes the limit")
        a.add_argument("--quota-files", type=int, help="-1 removes the limit")
        if action == "set":
            a.add_argument("--disable", dest="disabled", action="store_true", default=None)
            a.add_argument("--enable", dest="disabled", action="store_false")
            a.add_argument("--store", help="the named blob store for new files (docs/storage.md)")
            a.add_argument("--regions", help="comma list of allowed store regions; '' = any")
    tsub.add_parser("list", parents=[common], help="every tenant with usage and state")
    tsub.add_parser("show", parents=[common],
                    help="one tenant: usage against quota and its policy").add_argument("name")
    a = tsub.add_parser("purge", parents=[common], help="crypto-shred and delete a tenant")
    a.add_argument("name")
    a.add_argument("--yes", action="store_true")
    t.set_defaults(func=cmd_tenant)

    u = sub.add_parser("user", parents=[common], help="manage users (USER@TENANT)")
    usub = u.add_subparsers(dest="action", required=True, metavar="ACTION")
    usub.add_parser("list", parents=[common], help="users of one tenant, or of all").add_argument(
        "tenant", nargs="?", help="default: every tenant")
    for action, text in (("create", "create a user (password optional)"),
                         ("set", "change a user's kind, permissions or quotas")):
        a = user_command(usub, action, common, text)
        a.add_argument("--kind", choices=("human", "machine"),
                       default="human" if action == "create" else None)
        a.add_argument("--permissions", help='JSON: [{"prefix": "/", "perms": ["read"]}]')
        a.add_argument("--quota-bytes")
        a.add_argument("--quota-files", type=int)
        if action == "create":
            a.add_argument("--password-stdin", action="store_true")
            a.add_argument("--generate-password", action="store_true")
    for action, text in (("show", "one user: usage, password, permissions"),
                         ("disable", "refuse every login of a user"),
                         ("enable", "allow a disabled user again"),
                         ("delete", "delete a user (their files stay with the tenant)")):
        user_command(usub, action, common, text)
    a = user_command(usub, "passwd", common, "set or generate a user's password")
    a.add_argument("--password-stdin", action="store_true")
    a.add_argument("--generate-password", action="store_true")
    u.set_defaults(func=cmd_user)

    k = sub.add_parser("keys", parents=[common], help="list and rotate encryption keys")
    ksub = k.add_subparsers(dest="action", required=True, metavar="ACTION")
    ksub.add_parser("list", parents=[common], help="tenant key versions and the master key id")
    ksub.add_parser("rotate-master", parents=[common],
                    help="new master key file; re-wraps every tenant key")
    ksub.add_parser("rotate-tenant", parents=[common],
                    help="new tenant key version; re-wraps its data keys").add_argument("tenant")
    k.set_defaults(func=cmd_keys)
