"""``lumanox-gateway``: set up, administer and run the gateway.

Errors are one line on stderr naming the problem and the fix; the exit code is non-zero.
Tables are printed for people; ``--json`` prints JSON for scripts. The configuration comes
from ``--config``, else $LUMANOX_CONFIG, ./conf/gateway.toml or /etc/lumanox/gateway.toml;
only ``init`` creates a catalog. Commands live in modules by group (``admin_cmds``,
``audit_cmds``, ``files_cmds``, ``policy_cmds``), each adding itself with ``register``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import secrets
import sys

from gateway import admin
from gateway.cli.common import EXIT_ERROR, EXIT_USAGE, NoCatalog
from gateway.cli.common import _emit as _emit
from gateway.cli.common import _open_core as _open_core
from gateway.config import Config, load_config
from gateway.errors import GatewayError
from gateway.textout import human_size, printable

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "build_parser", "main"]


# --- init / migrate / status / serve / gc ---------------------------------------------------
def cmd_init(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.cli.common import require_catalog
    from gateway.cli.setup import initialise

    created = initialise(cfg)
    for line in created:
        print(f"created {line}")
    try:
        require_catalog(cfg)
    except NoCatalog:
        created.append("catalog")
    with _open_core(cfg, migrate=True, create=True) as core:
        print(f"catalog ready: {core.catalog.engine.url.render_as_string(hide_password=True)}")
        admin.record_admin_action(core, "init", reason="created " + ", ".join(
            c.split(":")[0] for c in created) if created else "nothing was missing")
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
    from gateway.cli.common import require_catalog

    require_catalog(cfg)  # an empty database is init's job
    catalog = Catalog(cfg.catalog_url)
    before, head = catalog.schema_status()
    if before == head:
        print(f"catalog schema is up to date ({head})")
    else:
        catalog.migrate()
        print(f"catalog schema migrated from {before} to {head}")
    catalog.dispose()
    with _open_core(cfg, migrate=False) as core:
        admin.record_admin_action(core, "migrate", reason=f"schema {before} -> {head}")
    return 0


def cmd_status(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.maintenance import status

    with _open_core(cfg, migrate=False) as core:
        data = status(core)
    lines = [f"{k}: {json.dumps(v) if isinstance(v, dict) else v}" for k, v in data.items()
             if k != "front_ends"]
    for name, fe in data["front_ends"].items():
        if isinstance(fe, dict):
            state = f"running (pid {fe['pid']})" if fe["running"] else "not running"
            lines.append(f"{name}: {'configured' if fe['configured'] else 'not configured'}"
                         f" on {fe['address']}, {state}")
    _emit(args, data, "\n".join(printable(line) for line in lines))
    return 0


def cmd_gc(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.maintenance import sweep_orphans

    with _open_core(cfg) as core:
        r = sweep_orphans(core, args.grace, dry_run=args.dry_run)
        would = args.dry_run
        text = (f"examined {r.examined} blobs; {'would delete' if would else 'deleted'} "
                f"{r.deleted} orphans ({human_size(r.deleted_bytes)}); kept {r.kept_young} "
                f"younger than the grace period ({r.grace_seconds} s); "
                f"{'would remove' if would else 'removed'} {r.temp_files_removed} abandoned "
                f"temp files ({human_size(r.temp_bytes_removed)})")
        if r.temp_kept_young:
            text += (f"; kept {r.temp_kept_young} temp file"
                     f"{'' if r.temp_kept_young == 1 else 's'} younger than "
                     f"{r.temp_min_age_s} s (an upload may still be writing "
                     f"{'it' if r.temp_kept_young == 1 else 'them'})")
        if not args.dry_run:
            admin.record_admin_action(core, "gc", reason=text)
    _emit(args, r, text)
    return 0


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    from gateway import sftp, webdav

    available = {"webdav": webdav.AVAILABLE, "sftp": sftp.AVAILABLE}
    # checks and migrations once; closed (no threads, no connections) before the
    # front-ends are forked from this process
    with _open_core(cfg):
        runnable = [name for name, ok in available.items() if ok and getattr(cfg, name).enabled]
        if not runnable:
            print("catalog, keys and blob store are ready; no network front-end is available "
                  "in this version yet (webdav: planned, sftp: planned).")
            print("Use `lumanox-gateway files ...` to work with files through the core.")
            return 0
    from gateway.server import serve

    return serve(cfg, runnable)



# --- parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    # accepted before and after the subcommand; SUPPRESS keeps a subcommand's default from
    # overwriting a value given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", default=argparse.SUPPRESS,
                        help="configuration file (default: $LUMANOX_CONFIG, "
                        "./conf/gateway.toml, /etc/lumanox/gateway.toml)")
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
    sub.add_parser("status", parents=[common],
                   help="catalog, storage, keys, and which front-ends run") \
        .set_defaults(func=cmd_status)
    sub.add_parser("serve", parents=[common], help="run the network front-ends") \
        .set_defaults(func=cmd_serve)
    s = sub.add_parser("gc", parents=[common],
                       help="delete orphan blobs and abandoned temp files")
    s.add_argument("--grace", type=int, help="seconds a blob must be old (default: config)")
    s.add_argument("--dry-run", action="store_true", help="only report what would go")
    s.set_defaults(func=cmd_gc)

    for module in EXTENSIONS:
        importlib.import_module(module).register(sub, common)
    return p


#: modules that add their own subcommands through ``register(sub, common)``
EXTENSIONS = ("gateway.cli.admin_cmds", "gateway.cli.audit_cmds", "gateway.cli.files_cmds",
              "gateway.cli.locks_cmds", "gateway.cli.policy_cmds")


def _silence_stdout() -> None:
    """After the reader of our output went away (``| head``): drop what is left, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.config = getattr(args, "config", None)
    args.json = getattr(args, "json", False)
    try:
        cfg = load_config(args.config)
        return args.func(args, cfg)
    except BrokenPipeError:
        _silence_stdout()
        return 0
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
