"""``init``, ``migrate``, ``status``, ``serve`` and ``gc``: set up and run the gateway."""

from __future__ import annotations

import argparse
import json
import secrets

from gateway import admin
from gateway.cli.common import NoCatalog, emit, open_core, require_catalog
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import human_size, printable


def cmd_init(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.cli.setup import initialise

    created = initialise(cfg)
    for line in created:
        print(f"created {line}")
    try:
        require_catalog(cfg)
    except NoCatalog:
        created.append("catalog")
    with open_core(cfg, migrate=True, create=True) as core:
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

    require_catalog(cfg)  # an empty database is init's job
    catalog = Catalog(cfg.catalog_url)
    before, head = catalog.schema_status()
    if before == head:
        print(f"catalog schema is up to date ({head})")
    else:
        catalog.migrate()
        print(f"catalog schema migrated from {before} to {head}")
    catalog.dispose()
    with open_core(cfg, migrate=False) as core:
        admin.record_admin_action(core, "migrate", reason=f"schema {before} -> {head}")
    return 0


def cmd_status(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.maintenance import status
    from gateway.metrics.live import live_status

    with open_core(cfg, migrate=False) as core:
        data = status(core)
        data["live"] = live_status(core)
    lines = [f"{k}: {json.dumps(v) if isinstance(v, dict) else v}" for k, v in data.items()
             if k not in ("front_ends", "live", "nodes")]
    for name, fe in data["front_ends"].items():
        if isinstance(fe, dict):
            state = f"running (pid {fe['pid']})" if fe["running"] else "not running"
            lines.append(f"{name}: {'configured' if fe['configured'] else 'not configured'}"
                         f" on {fe['address']}, {state}")
    for n in data["nodes"]:
        lines.append(f"node {n['name']}: last heartbeat {_duration(int(n['age_s']))} ago "
                     f"(supervisor pid {n['pid']}, started {n['started_at']})"
                     f"{', STALE: its session slots are freed' if n['stale'] else ''}")
    lines += live_lines(data["live"])
    emit(args, data, "\n".join(printable(line) for line in lines))
    return 0


def live_lines(live: dict) -> list[str]:
    """The live picture of ``status`` as text lines."""
    up = live["uptime_s"]
    lines = [f"serving: {'yes, up ' + _duration(up) if live['serving'] else 'no'}"]
    for name, p in live["listeners"].items():
        lines.append(f"listener {name} {p['address']}: "
                     f"{'up' if p['up'] else 'DOWN'} ({p['detail']}, {p['probe_ms']} ms)")
    if live["sessions"] is not None:
        lines.append("sessions now: " + ", ".join(f"{k} {v}" for k, v in
                                                  live["sessions"].items()))
    problems = live["recent_problems"]
    lines.append(f"recent errors/refusals: {len(problems) or 'none'}")
    for e in problems:
        who = f"{e['user'] or '-'}@{e['tenant'] or '-'}"
        lines.append(f"  {e['ts']} {e['protocol']} {e['action']} {e['result']} {who} "
                     f"{e['path'] or ''} {e['reason'] or ''}".rstrip())
    return lines


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def cmd_gc(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.maintenance import sweep_orphans

    with open_core(cfg) as core:
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
    emit(args, r, text)
    return 0


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    from gateway import admin_api, sftp, webdav

    available = {"webdav": webdav.AVAILABLE, "sftp": sftp.AVAILABLE,
                 "admin_api": admin_api.AVAILABLE}
    # checks and migrations once; closed (no threads, no connections) before the
    # front-ends are forked from this process
    with open_core(cfg):
        runnable = [name for name, ok in available.items() if ok and getattr(cfg, name).enabled]
        if not runnable:
            print("catalog, keys and blob store are ready; no network front-end is enabled "
                  f"(webdav.enabled and sftp.enabled are false in {cfg.source}).")
            print("Use `lumanox-gateway files ...` to work with files through the core.")
            return 0
    from gateway.server import serve

    return serve(cfg, runnable)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the set-up and run commands."""
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
