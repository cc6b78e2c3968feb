"""``storage``: the named blob stores (``stores``) and moving a tenant between them
(``migrate``; gateway/storage_migrate). ``tenant show`` uses ``placement_text``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.config import Config
from gateway.textout import human_size, table


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``storage``."""
    p = sub.add_parser("storage", parents=[common], help="named blob stores and migration")
    ssub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ssub.add_parser("stores", parents=[common], help="the configured stores and regions")
    a = ssub.add_parser("migrate", parents=[common],
                        help="move a tenant's blobs to another store (resumable)")
    a.add_argument("--tenant", required=True)
    a.add_argument("--to", required=True, help="the target store's name")
    a.add_argument("--dry-run", action="store_true", help="count what would move")
    a.add_argument("--batch-files", type=int, default=32, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_storage)


def placement_text(where: dict[str, Any]) -> str:
    """The human form of ``show_placement``: where a tenant's data lives."""
    regions = ",".join(where["regions"]) or "any"
    rows = [[e["store"], e["region"], str(e["files"]), human_size(e["bytes"])]
            for e in where["placement"]]
    text = (f"storage: new files to {where['store']} ({where['store_region']}); "
            f"allowed regions: {regions}\n"
            + table(rows, ("store", "region", "files", "bytes")))
    if where["outside_regions"]:
        text += ("\nwarning: data outside the allowed regions in "
                 f"{', '.join(where['outside_regions'])}: run `storage migrate`")
    return text


def _bar(show: bool) -> tuple[Any, Any, Any]:
    """(start, progress, close) callbacks drawing a rich bar on stderr, or no-ops."""
    if not show:
        return None, None, lambda: None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TextColumn("{task.fields[files]}"), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=Console(file=sys.stderr))
    state: dict[str, Any] = {}

    def start(files: int, nbytes: int) -> None:
        bar.start()
        state["task"] = bar.add_task("migrate", total=nbytes, files=f"0/{files} files")
        state["files"] = files

    def progress(files: int, nbytes: int) -> None:
        bar.update(state["task"], completed=nbytes, files=f"{files}/{state['files']} files")

    return start, progress, bar.stop


def cmd_storage(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.cli.common import emit, open_core

    with open_core(cfg) as core:
        if args.action == "stores":
            rows = [{"store": n, "region": core.stores.region(n),
                     "backend": core.stores.named(n).describe().get("backend")}
                    for n in core.stores.names()]
            emit(args, rows, table([[r["store"], r["region"], str(r["backend"])]
                                    for r in rows], ("store", "region", "backend")))
        elif args.action == "migrate":
            from gateway.compliance.reports.progress import wanted
            from gateway.storage_migrate.migrate import migrate

            start, progress, close = _bar(not args.json and not args.dry_run and wanted())
            try:
                r = migrate(core, args.tenant, args.to, dry_run=args.dry_run,
                            batch=max(1, args.batch_files), progress=progress, start=start)
            finally:
                close()
            verb = "would move" if r.dry_run else "moved"
            emit(args, r.as_dict(), f"{verb} {r.files} files ({human_size(r.bytes)}) of "
                 f"{r.tenant} to {r.to}; {r.released} old copies released, "
                 f"{r.skipped} skipped")
    return 0
