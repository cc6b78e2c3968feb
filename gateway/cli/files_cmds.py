"""``files``: use files through the core, without a network front-end.

Runs as the named user through a normal Session: permissions, quotas and audit apply.
"""

from __future__ import annotations

import argparse
import sys

from gateway import admin
from gateway.cli.common import emit, open_core, split_login, user_command
from gateway.config import Config
from gateway.textout import human_size, printable, table


def cmd_files(args: argparse.Namespace, cfg: Config) -> int:
    with open_core(cfg) as core:
        name, tenant = split_login(args.login)
        session = core.session(admin.principal_for(core, tenant, name), "cli", "local")
        if args.action == "ls":
            entries = list(session.list(args.path))
            emit(args, entries, table(
                [[e.name + ("/" if e.is_dir else ""), str(e.size),
                  e.mtime.isoformat(timespec="seconds")] for e in entries],
                ("name", "size", "modified")))
        elif args.action == "put":
            src = sys.stdin.buffer if args.local == "-" else open(args.local, "rb")  # noqa: SIM115
            with src, session.open_write(args.path) as writer:
                while chunk := src.read(1024 * 1024):
                    writer.write(chunk)
            e = session.stat_quiet(args.path)
            emit(args, e, f"stored {printable(e.path)} ({human_size(e.size)})")
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


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``files``."""
    f = sub.add_parser("files", parents=[common], help="use files through the core (no network)")
    fsub = f.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("ls", "list a folder"), ("mkdir", "create a folder (and parents)")):
        a = user_command(fsub, action, common, text)
        a.add_argument("path", nargs="?", default="/")
    a = user_command(fsub, "put", common, "upload: put USER@TENANT LOCAL PATH")
    a.add_argument("local", help="local file, or - for standard input")
    a.add_argument("path")
    a = user_command(fsub, "get", common, "download: get USER@TENANT PATH LOCAL")
    a.add_argument("path")
    a.add_argument("local", help="local file, or - for standard output")
    a = user_command(fsub, "rm", common, "delete a file or (with -r) a folder")
    a.add_argument("path")
    a.add_argument("-r", "--recursive", action="store_true")
    a = user_command(fsub, "mv", common, "move or rename a file or folder")
    a.add_argument("path")
    a.add_argument("dest")
    a.add_argument("--overwrite", action="store_true")
    f.set_defaults(func=cmd_files)
