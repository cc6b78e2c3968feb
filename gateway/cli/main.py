"""``lumanox-gateway``: set up, administer and run the gateway.

Errors are one line on stderr naming the problem and the fix; the exit code is non-zero.
Tables are printed for people; ``--json`` prints JSON for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any

from gateway import admin
from gateway.cli.output import dump_json, human_size, parse_size, table
from gateway.config import Config, load_config
from gateway.errors import GatewayError

EXIT_ERROR = 1
EXIT_USAGE = 2


def _open_core(cfg: Config, migrate: bool | None = None):  # type: ignore[no-untyped-def]
    from gateway.core import Core

    return Core.open(cfg, migrate=migrate, audit_log="off" if cfg.audit.log == "stdout"
                     else None)


def _emit(args: argparse.Namespace, data: Any, human: str) -> None:
    print(dump_json(data) if args.json else human)


# --- init / migrate / status / serve / gc ---------------------------------------------------
def cmd_init(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.cli.setup import initialise

    for line in initialise(cfg):
        print(f"created {line}")
    with _open_core(cfg, migrate=True) as core:
        print(f"catalog ready: {core.catalog.engine.url.render_as_string(hide_password=True)}")
        if args.demo:
            _demo(core)
    return 0


def _demo(core) -> None:  # type: ignore[no-untyped-def]
    try:
        admin.get_tenant(core, "demo")
        print("demo tenant exists already (reset its user's password with "
              "`lumanox-gateway user passwd alice@demo`)")
        return
    except GatewayError:
        pass
    admin.create_tenant(core, "demo", display_name="Demo company")
    password = secrets.token_urlsafe(12)
    admin.create_user(core, "demo", "alice", password=password)
    print("demo tenant 'demo' with user 'alice@demo'")
    print(f"  password: {password}   (shown once; change it with `user passwd alice@demo`)")


def cmd_migrate(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.catalog import Catalog

    catalog = Catalog(cfg.catalog_url)
    before, head = catalog.schema_status()
    if before == head:
        print(f"catalog schema is up to date ({head})")
    else:
        catalog.migrate()
        print(f"catalog schema migrated from {before or 'empty'} to {head}")
    catalog.dispose()
    return 0


def cmd_status(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.maintenance import status

    with _open_core(cfg, migrate=False) as core:
        data = status(core)
    lines = [f"{k}: {json.dumps(v) if isinstance(v, dict) else v}" for k, v in data.items()]
    _emit(args, data, "\n".join(lines))
    return 0


def cmd_gc(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.maintenance import sweep_orphans

    with _open_core(cfg) as core:
        r = sweep_orphans(core, args.grace, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    _emit(args, r, f"examined {r.examined} blobs; {verb} {r.deleted} orphans "
          f"({human_size(r.deleted_bytes)}); kept {r.kept_young} younger than the grace "
          f"period; removed {r.temp_files_removed} abandoned temp files")
    return 0


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    from gateway import sftp, webdav

    available = {"webdav": webdav.AVAILABLE, "sftp": sftp.AVAILABLE}
    with _open_core(cfg) as core:
        runnable = [name for name, ok in available.items() if ok and getattr(cfg, name).enabled]
        if not runnable:
            print("catalog, keys and blob store are ready; no network front-end is available "
                  "in this version yet (webdav: planned, sftp: planned).")
            print("Use `lumanox-gateway files ...` to work with files through the core.")
            return 0
        from gateway.server import serve

        return serve(core, runnable)


# --- tenants -----------------------------------------------------------------------
def _tenant_row(t: admin.Tenant) -> list[str]:
    quota = human_size(t.quota_bytes) if t.quota_bytes is not None else "unlimited"
    return [t.name, ",".join(t.protocols), "insensitive" if t.case_insensitive else "sensitive",
            f"{human_size(t.used_bytes)} / {quota}", str(t.used_files),
            "disabled" if t.disabled else "active"]


TENANT_HEADERS = ("tenant", "protocols", "names", "used / quota", "files", "state")


def cmd_tenant(args: argparse.Namespace, cfg: Config) -> int:
    with _open_core(cfg) as core:
        if args.action == "create":
            t = admin.create_tenant(
                core, args.name, display_name=args.display_name or "",
                protocols=_csv(args.protocols) if args.protocols else None,
                case_insensitive=not args.case_sensitive,
                quota_bytes=_size(args.quota_bytes), quota_files=args.quota_files)
            _emit(args, t, f"created tenant {t.name}")
        elif args.action == "list":
            ts = admin.list_tenants(core)
            _emit(args, ts, table([_tenant_row(t) for t in ts], TENANT_HEADERS))
        elif args.action == "show":
            t = admin.get_tenant(core, args.name)
            from dataclasses import asdict

            from gateway.policy import manage

            _emit(args, {**asdict(t), "policy": manage.show(core, t.name)},
                  table([_tenant_row(t)], TENANT_HEADERS) + "\n"
                  + "\n".join(manage.summary_lines(core, t.name)))
        elif args.action == "set":
            t = admin.set_tenant(
                core, args.name, display_name=args.display_name,
                protocols=_csv(args.protocols) if args.protocols is not None else None,
                case_insensitive=(None if args.case_sensitive is None
                                  else not args.case_sensitive),
                quota_bytes=_size(args.quota_bytes), quota_files=args.quota_files,
                disabled=args.disabled)
            _emit(args, t, table([_tenant_row(t)], TENANT_HEADERS))
        elif args.action == "purge":
            if not args.yes:
                print(f"purging {args.name} destroys its keys and every file for good; "
                      "repeat with --yes", file=sys.stderr)
                return EXIT_USAGE
            n = admin.purge_tenant(core, args.name)
            _emit(args, {"tenant": args.name, "blobs_deleted": n},
                  f"purged tenant {args.name}: keys destroyed, {n} blobs deleted")
    return 0


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _size(text: str | None) -> int | None:
    return None if text is None else parse_size(text)


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
    with _open_core(cfg) as core:
        if args.action == "list":
            us = admin.list_users(core, args.tenant)
            _emit(args, us, table([_user_row(u, args.tenant) for u in us], USER_HEADERS))
            return 0
        name, tenant = admin.split_login(args.login)
        if args.action == "create":
            password = _read_password(args, generate=args.generate_password) \
                if (args.password_stdin or args.generate_password) else None
            generated = None
            if args.generate_password and password is None:
                password = generated = secrets.token_urlsafe(12)
            u = admin.create_user(core, tenant, name, password=password, kind=args.kind,
                                  permissions=args.permissions,
                                  quota_bytes=_size(args.quota_bytes),
                                  quota_files=args.quota_files)
            msg = f"created user {name}@{tenant}"
            if generated:
                msg += f"\n  password: {generated}   (shown once)"
            _emit(args, {"user": u, "password": generated}, msg)
        elif args.action == "show":
            u = admin.get_user(core, tenant, name)
            _emit(args, u, table([_user_row(u, tenant)], USER_HEADERS)
                  + f"\npermissions: {u.permissions}")
        elif args.action == "set":
            u = admin.set_user(core, tenant, name, permissions=args.permissions,
                               quota_bytes=_size(args.quota_bytes), quota_files=args.quota_files,
                               kind=args.kind)
            _emit(args, u, table([_user_row(u, tenant)], USER_HEADERS))
        elif args.action == "passwd":
            password = _read_password(args, generate=args.generate_password)
            generated = None
            if password is None:
                password = generated = secrets.token_urlsafe(12)
            admin.set_user(core, tenant, name, password=password)
            _emit(args, {"user": args.login, "password": generated},
                  f"password of {args.login} changed"
                  + (f"\n  password: {generated}   (shown once)" if generated else ""))
        elif args.action in ("disable", "enable"):
            admin.set_user(core, tenant, name, disabled=args.action == "disable")
            _emit(args, {"user": args.login, "disabled": args.action == "disable"},
                  f"{args.login} {args.action}d")
        elif args.action == "delete":
            admin.delete_user(core, tenant, name)
            _emit(args, {"user": args.login, "deleted": True}, f"deleted {args.login}")
    return 0


# --- keys -----------------------------------------------------------------------
def cmd_keys(args: argparse.Namespace, cfg: Config) -> int:
    from sqlalchemy import select

    from gateway.catalog.tables import tenant_keys, tenants

    with _open_core(cfg) as core:
        if args.action == "list":
            with core.catalog.read() as conn:
                rows = conn.execute(
                    select(tenants.c.name, tenant_keys.c.version, tenant_keys.c.state,
                           tenant_keys.c.master_key_id, tenant_keys.c.created_at)
                    .join(tenants, tenants.c.id == tenant_keys.c.tenant_id)
                    .order_by(tenants.c.name, tenant_keys.c.version)).all()
            data = [dict(r._mapping) for r in rows]
            _emit(args, data, f"master key id: {core.keyring.master_key_id}\n" + table(
                [[r.name, str(r.version), r.state, r.master_key_id,
                  r.created_at.isoformat(timespec="seconds")] for r in rows],
                ("tenant", "version", "state", "master key id", "created")))
        elif args.action == "rotate-master":
            n = core.keyring.rotate_master()
            _emit(args, {"rewrapped": n, "master_key_id": core.keyring.master_key_id},
                  f"master key replaced ({cfg.master_key_file}); {n} tenant keys re-wrapped; "
                  "back up the new key file now")
        elif args.action == "rotate-tenant":
            t = admin.get_tenant(core, args.tenant)
            version, n = core.keyring.rotate_tenant(t.id)
            _emit(args, {"tenant": t.name, "version": version, "rewrapped": n},
                  f"tenant {t.name}: key version {version} active; {n} data keys re-wrapped "
                  "(content not re-encrypted)")
    return 0


# --- audit -----------------------------------------------------------------------
def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise GatewayError(f"{text!r} is not a date: write e.g. 2026-11-28 or "
                           "2026-11-28T13:00") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def cmd_audit(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.audit import chains, format_events, query_events, verify_chain

    with _open_core(cfg) as core:
        if args.action == "verify":
            with core.catalog.read() as conn:
                names = chains(conn)
                tenant_ids = {t.name: t.id for t in admin.list_tenants(core)}
                if args.tenant:
                    if args.tenant not in tenant_ids:
                        raise GatewayError(f"no tenant {args.tenant!r}")
                    names = [tenant_ids[args.tenant]]
                by_id = {v: k for k, v in tenant_ids.items()}
                problems = [p for p in (verify_chain(conn, c) for c in names) if p]
            for p in problems:
                print(f"audit chain of {by_id.get(p.chain, p.chain)}: event {p.seq} "
                      f"{p.kind}: {p.detail}", file=sys.stderr)
            if not problems:
                print(f"audit chains intact: {len(names)} checked")
            return EXIT_ERROR if problems else 0
        if args.action == "tail":
            last_id = _print_tail(core, args)
            while args.follow:
                time.sleep(1)
                last_id = _print_tail(core, args, after_id=last_id)
            return 0
        with core.catalog.read() as conn:
            events = query_events(conn, tenant=args.tenant, user=args.user,
                                  since=_when(args.since), until=_when(args.until),
                                  action=args.action_filter, path=args.path, limit=args.limit)
            print(format_events(events, args.format))
    return 0


def _print_tail(core, args: argparse.Namespace, after_id: int | None = None) -> int | None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from gateway.audit import EXPORT_COLUMNS, format_events
    from gateway.catalog.tables import audit_events

    q = select(audit_events)
    if after_id is not None:
        q = q.where(audit_events.c.id > after_id).order_by(audit_events.c.id)
    else:
        q = q.order_by(audit_events.c.id.desc()).limit(args.lines)
    with core.catalog.read() as conn:
        rows = list(conn.execute(q).mappings())
    if after_id is None:
        rows.reverse()
    if rows:
        out = format_events(({k: r[k] for k in EXPORT_COLUMNS} for r in rows), args.format)
        if after_id is not None and args.format == "table":
            out = "\n".join(out.splitlines()[2:])
        print(out, flush=True)
        return rows[-1]["id"]
    return after_id


# --- files (work with files through the core, without a network front-end) ------------------
def cmd_files(args: argparse.Namespace, cfg: Config) -> int:
    with _open_core(cfg) as core:
        name, tenant = admin.split_login(args.login)
        session = core.session(admin.principal_for(core, tenant, name), "cli", "local")
        if args.action == "ls":
            entries = list(session.list(args.path))
            _emit(args, entries, table(
                [[e.name + ("/" if e.is_dir else ""), str(e.size),
                  e.mtime.isoformat(timespec="seconds")] for e in entries],
                ("name", "size", "modified")))
        elif args.action == "put":
            src = sys.stdin.buffer if args.local == "-" else open(args.local, "rb")  # noqa: SIM115
            with src, session.open_write(args.path) as writer:
                while chunk := src.read(1024 * 1024):
                    writer.write(chunk)
            e = session.stat_quiet(args.path)
            _emit(args, e, f"stored {e.path} ({human_size(e.size)}, sha256 {e.sha256})")
        elif args.action == "get":
            dst = sys.stdout.buffer if args.local == "-" else open(args.local, "wb")  # noqa: SIM115
            with dst, session.open_read(args.path) as reader:
                for chunk in reader.iter_chunks():
                    dst.write(chunk)
        elif args.action == "mkdir":
            session.mkdir(args.path, parents=True, exist_ok=True)
        elif args.action == "rm":
            session.delete(args.path, recursive=args.recursive)
        elif args.action == "mv":
            session.move(args.path, args.dest, overwrite=args.overwrite)
    return 0


# --- parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    # accepted before and after the subcommand; SUPPRESS keeps a subcommand's default from
    # overwriting a value given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", default=argparse.SUPPRESS,
                        help="configuration file (default: $LUMANOX_CONFIG)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of tables")

    p = argparse.ArgumentParser(prog="lumanox-gateway", parents=[common],
                                description="Lumanox Gateway: WebDAV + SFTP for business files")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("init", parents=[common], help="create data dir, catalog, keys, certs")
    s.add_argument("--demo", action="store_true", help="also create tenant demo + user alice")
    s.set_defaults(func=cmd_init)
    sub.add_parser("migrate", parents=[common], help="apply catalog schema migrations") \
        .set_defaults(func=cmd_migrate)
    sub.add_parser("status", parents=[common], help="catalog, storage and key status") \
        .set_defaults(func=cmd_status)
    sub.add_parser("serve", parents=[common], help="run the network front-ends") \
        .set_defaults(func=cmd_serve)
    s = sub.add_parser("gc", parents=[common], help="delete orphan blobs")
    s.add_argument("--grace", type=int, help="seconds a blob must be old (default: config)")
    s.add_argument("--dry-run", action="store_true")
    s.set_defaults(func=cmd_gc)

    t = sub.add_parser("tenant", parents=[common], help="manage tenants")
    tsub = t.add_subparsers(dest="action", required=True)
    for action in ("create", "set"):
        a = tsub.add_parser(action, parents=[common])
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
    tsub.add_parser("list", parents=[common])
    tsub.add_parser("show", parents=[common]).add_argument("name")
    a = tsub.add_parser("purge", parents=[common], help="crypto-shred and delete a tenant")
    a.add_argument("name")
    a.add_argument("--yes", action="store_true")
    t.set_defaults(func=cmd_tenant)

    u = sub.add_parser("user", parents=[common], help="manage users (USER@TENANT)")
    usub = u.add_subparsers(dest="action", required=True)
    usub.add_parser("list", parents=[common]).add_argument("tenant")
    for action in ("create", "set"):
        a = usub.add_parser(action, parents=[common])
        a.add_argument("login", metavar="USER@TENANT")
        a.add_argument("--kind", choices=("human", "machine"),
                       default="human" if action == "create" else None)
        a.add_argument("--permissions", help='JSON: [{"prefix": "/", "perms": ["read"]}]')
        a.add_argument("--quota-bytes")
        a.add_argument("--quota-files", type=int)
        if action == "create":
            a.add_argument("--password-stdin", action="store_true")
            a.add_argument("--generate-password", action="store_true")
    for action in ("show", "disable", "enable", "delete"):
        usub.add_parser(action, parents=[common]).add_argument("login", metavar="USER@TENANT")
    a = usub.add_parser("passwd", parents=[common])
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("--password-stdin", action="store_true")
    a.add_argument("--generate-password", action="store_true")
    u.set_defaults(func=cmd_user)

    k = sub.add_parser("keys", parents=[common], help="list and rotate encryption keys")
    ksub = k.add_subparsers(dest="action", required=True)
    ksub.add_parser("list", parents=[common])
    ksub.add_parser("rotate-master", parents=[common])
    ksub.add_parser("rotate-tenant", parents=[common]).add_argument("tenant")
    k.set_defaults(func=cmd_keys)

    au = sub.add_parser("audit", parents=[common], help="verify and query the audit log")
    asub = au.add_subparsers(dest="action", required=True)
    asub.add_parser("verify", parents=[common]).add_argument("tenant", nargs="?")
    a = asub.add_parser("tail", parents=[common])
    a.add_argument("-n", "--lines", type=int, default=20)
    a.add_argument("-f", "--follow", action="store_true")
    a.add_argument("--format", choices=("table", "csv", "json"), default="table")
    a = asub.add_parser("query", parents=[common])
    a.add_argument("--tenant")
    a.add_argument("--user")
    a.add_argument("--since", help="ISO date/time (UTC if no zone)")
    a.add_argument("--until")
    a.add_argument("--action", dest="action_filter")
    a.add_argument("--path", help="path prefix")
    a.add_argument("--limit", type=int)
    a.add_argument("--format", choices=("table", "csv", "json"), default="table")
    au.set_defaults(func=cmd_audit)

    f = sub.add_parser("files", parents=[common], help="use files through the core (no network)")
    fsub = f.add_subparsers(dest="action", required=True)
    for action in ("ls", "mkdir"):
        a = fsub.add_parser(action, parents=[common])
        a.add_argument("login", metavar="USER@TENANT")
        a.add_argument("path", nargs="?", default="/")
    a = fsub.add_parser("put", parents=[common], help="upload: put USER@TENANT LOCAL PATH")
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("local", help="local file, or - for standard input")
    a.add_argument("path")
    a = fsub.add_parser("get", parents=[common], help="download: get USER@TENANT PATH LOCAL")
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("path")
    a.add_argument("local", help="local file, or - for standard output")
    a = fsub.add_parser("rm", parents=[common])
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("path")
    a.add_argument("-r", "--recursive", action="store_true")
    a = fsub.add_parser("mv", parents=[common])
    a.add_argument("login", metavar="USER@TENANT")
    a.add_argument("path")
    a.add_argument("dest")
    a.add_argument("--overwrite", action="store_true")
    f.set_defaults(func=cmd_files)

    for module in EXTENSIONS:
        importlib.import_module(module).register(sub, common)
    from gateway.cli import locks_cmds
    locks_cmds.add_parser(sub, common)
    return p


#: modules that add their own subcommands through ``register(sub, common)``
EXTENSIONS = ("gateway.cli.policy_cmds",)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.config = getattr(args, "config", None)
    args.json = getattr(args, "json", False)
    try:
        cfg = load_config(args.config)
        return args.func(args, cfg)
    except GatewayError as exc:
        print(f"lumanox-gateway: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as exc:
        print(f"lumanox-gateway: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the admin; the traceback only when asked for
        if os.environ.get("LUMANOX_DEBUG"):
            raise
        print(f"lumanox-gateway: unexpected {type(exc).__name__}: {exc} "
              "(set LUMANOX_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
