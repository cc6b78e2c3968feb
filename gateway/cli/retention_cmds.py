"""``retention``, ``trash``, ``hold``: retention rules and runs, the trash, legal holds
(gateway/compliance/retention; every change is audited there)."""

from __future__ import annotations

import argparse

from gateway.config import Config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``retention``, ``trash`` and ``hold``."""
    p = sub.add_parser("retention", parents=[common], help="retention rules and runs")
    rsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = rsub.add_parser("set", parents=[common], help="set the rule of a tenant or folder")
    _tenant_path(a)
    a.add_argument("--files-days", type=int, help="delete files N days after --after")
    a.add_argument("--after", choices=("upload", "change"), default="upload",
                   help="count from the upload (default) or the last change")
    a.add_argument("--audit-days", type=int,
                   help="erase personal fields of audit events older than M days (tenant)")
    a = rsub.add_parser("show", parents=[common], help="a tenant's rules")
    a.add_argument("--tenant", required=True)
    a = rsub.add_parser("clear", parents=[common], help="remove the rule of a tenant or folder")
    _tenant_path(a)
    a = rsub.add_parser("run", parents=[common], help="delete what is due now")
    a.add_argument("--tenant", help="only this tenant (default: all)")
    a.add_argument("--dry-run", action="store_true", help="count what is due, change nothing")
    a.add_argument("--now", help=argparse.SUPPRESS)  # tests: the run's clock
    a.add_argument("--batch-files", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("trash", parents=[common], help="the tenant's trash of deleted files")
    tsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = tsub.add_parser("enable", parents=[common], help="keep deleted files D days")
    a.add_argument("--tenant", required=True)
    a.add_argument("--days", type=int, required=True)
    a = tsub.add_parser("disable", parents=[common], help="delete for good again")
    a.add_argument("--tenant", required=True)
    a = tsub.add_parser("list", parents=[common], help="what the trash holds")
    a.add_argument("--tenant", required=True)
    a = tsub.add_parser("restore", parents=[common], help="put an item back where it was")
    a.add_argument("--tenant", required=True)
    a.add_argument("item", type=int, help="item id (from `trash list`)")
    a = tsub.add_parser("purge", parents=[common], help="delete items for good")
    a.add_argument("--tenant", required=True)
    a.add_argument("items", type=int, nargs="*", help="item ids (or --all)")
    a.add_argument("--all", action="store_true", help="every item")
    p.set_defaults(func=cmd_trash)

    p = sub.add_parser("hold", parents=[common], help="legal holds: nothing under them is "
                       "deleted")
    hsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = hsub.add_parser("set", parents=[common], help="hold a tenant or folder")
    _tenant_path(a)
    a.add_argument("--reason", required=True, help="the case or request the hold serves")
    a = hsub.add_parser("release", parents=[common], help="release a hold")
    a.add_argument("--tenant", required=True)
    a.add_argument("hold", help="hold id (from `hold list`)")
    a = hsub.add_parser("list", parents=[common], help="active holds")
    a.add_argument("--tenant", help="only this tenant")
    p.set_defaults(func=cmd_hold)


def _tenant_path(a: argparse.ArgumentParser) -> None:
    a.add_argument("--tenant", required=True)
    a.add_argument("--path", default="/", help="a folder (default: the whole tenant)")


def cmd_retention(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.cli.common import emit, open_core, parse_when
    from gateway.compliance.retention import rules, run
    from gateway.textout import table

    with open_core(cfg) as core:
        if args.action == "set":
            r = rules.set_rule(core, args.tenant, args.path, files_days=args.files_days,
                               after=args.after, audit_days=args.audit_days)
            emit(args, r.as_dict(), f"retention rule on {r.path} of {args.tenant} set")
        elif args.action == "show":
            found = rules.show_rules(core, args.tenant)
            emit(args, [r.as_dict() for r in found], table(
                [[r.path, _days(r.files_days), r.after, _days(r.audit_days)] for r in found],
                ("path", "files days", "after", "audit days")))
        elif args.action == "clear":
            rules.clear_rule(core, args.tenant, args.path)
            emit(args, {"cleared": args.path}, f"retention rule on {args.path} cleared")
        else:
            report = run.run_retention(
                core, tenant=args.tenant, now=parse_when(args.now), dry_run=args.dry_run,
                batch_files=args.batch_files,
                progress=None if args.json else lambda m: print(m, flush=True))
            emit(args, report.as_dict(), table(
                [[t.tenant, str(t.files_due), str(t.files_deleted), str(t.bytes_deleted),
                  str(t.held), str(t.trash_purged), str(t.audit_erased)]
                 for t in report.tenants],
                ("tenant", "due", "deleted", "bytes", "held", "trash purged",
                 "audit erased")) + (" (dry run: nothing changed)" if args.dry_run else ""))
    return 0


def _days(days: int | None) -> str:
    return "-" if days is None else str(days)


def cmd_trash(args: argparse.Namespace, cfg: Config) -> int:
    from dataclasses import asdict

    from gateway.cli.common import emit, open_core, shown_time
    from gateway.compliance.retention import trash
    from gateway.textout import human_size, table

    with open_core(cfg) as core:
        if args.action == "enable":
            trash.enable(core, args.tenant, args.days)
            emit(args, {"days": args.days}, f"trash of {args.tenant} on: {args.days} days")
        elif args.action == "disable":
            trash.disable(core, args.tenant)
            emit(args, {"days": None}, f"trash of {args.tenant} off")
        elif args.action == "list":
            items = trash.list_items(core, args.tenant)
            emit(args, items, table(
                [[str(i.id), i.path, i.kind, human_size(i.bytes), shown_time(i.deleted_at),
                  i.deleted_by or "-"] for i in items],
                ("id", "path", "kind", "size", "deleted", "by")))
        elif args.action == "restore":
            item = trash.restore(core, args.tenant, args.item)
            emit(args, item, f"restored {item.path}")
        else:
            if bool(args.items) == bool(args.all):
                raise ValueError("name the items to purge (ids from `trash list`) or --all")
            report = trash.purge(core, args.tenant, args.items or None)
            emit(args, asdict(report), f"purged {report.items} item(s), {report.files} "
                 f"file(s), {human_size(report.bytes)}; {report.held} kept under legal hold")
    return 0


def cmd_hold(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.cli.common import emit, open_core, shown_time
    from gateway.compliance.retention import holds
    from gateway.textout import table

    with open_core(cfg) as core:
        if args.action == "set":
            h = holds.set_hold(core, args.tenant, args.path, args.reason)
            emit(args, h, f"hold {h.id} on {h.path} of {h.tenant}")
        elif args.action == "release":
            holds.release_hold(core, args.tenant, args.hold)
            emit(args, {"released": args.hold}, f"hold {args.hold} released")
        else:
            found = holds.list_holds(core, args.tenant)
            emit(args, found, table(
                [[h.id, h.tenant, h.path, h.reason, shown_time(h.created_at)] for h in found],
                ("id", "tenant", "path", "reason", "since")))
    return 0
