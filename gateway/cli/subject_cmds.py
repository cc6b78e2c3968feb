"""``subject find|export|erase``: data-subject requests (GDPR Art. 15, 16, 17, 20).

A request names a tenant and the person: ``--user`` (the account), ``--name-pattern``
(a glob over file and folder names) and/or ``--text-in-names`` (a text in names); names
compare case-insensitively. ``find`` lists the account, files and events; ``export``
writes them to one ZIP with a manifest; ``erase`` deletes the files (and their blobs) and
the account and erases the person's identifiers from the audit trail (``--dry-run``
lists what would go; otherwise ``--yes`` is required). The work is in
``gateway.compliance.subject``; this module only parses and prints.
"""

from __future__ import annotations

import argparse

from gateway.cli.common import emit, open_core
from gateway.compliance.subject import Criteria, erase_request, export_subject, find
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import human_size, printable, table


class ConfirmationMissing(GatewayError):
    """An erasure without --yes."""


def _criteria(args: argparse.Namespace) -> Criteria:
    return Criteria(args.tenant, args.user, args.name_pattern, args.text_in_names)


def _files_table(files: list[dict]) -> str:
    return table([[printable(f["path"]), human_size(f["size"]), f["owner"] or "-",
                   ",".join(f["why"])] for f in files], ("file", "size", "owner", "why"))


def cmd_subject(args: argparse.Namespace, cfg: Config) -> int:
    if args.action == "erase" and not args.dry_run and not args.yes:
        raise ConfirmationMissing("`subject erase` deletes the files, the account and the "
                                  "person's identifiers for good: check with --dry-run, "
                                  "then add --yes to confirm")
    with open_core(cfg) as core:
        if args.action == "find":
            f = find(core, _criteria(args), event_limit=args.limit)
            account = "none" if f.account is None else \
                f"{f.account['name']}@{f.account['tenant']} ({f.account['kind']})"
            text = [f"account: {printable(account)}", _files_table(f.files)]
            if f.folders:
                text.append("folders named after the subject: "
                            + ", ".join(printable(p) for p in f.folders))
            text.append(table([[str(e["seq"]), e["ts"].isoformat(timespec="seconds"),
                                e["action"], e["result"], printable(e["path"] or "-"),
                                e["why"]] for e in f.events],
                              ("seq", "time", "action", "result", "path", "why")))
            emit(args, f, "\n\n".join(text))
        elif args.action == "export":
            r = export_subject(core, _criteria(args), args.out)
            emit(args, r, f"exported {r.files} files ({human_size(r.file_bytes)}), "
                          f"{r.events} events and the account data to {printable(r.out)} "
                          f"({human_size(r.archive_bytes)})")
        else:
            rep = erase_request(core, _criteria(args), dry_run=args.dry_run)
            head = "would erase (dry run, nothing changed)" if rep.dry_run else "erased"
            counts = ", ".join(f"{k} {v}" for k, v in rep.counts.items())
            text = [f"{head}: {counts}", _files_table(rep.files)]
            if rep.folders:
                text.append("folders (with everything inside): "
                            + ", ".join(printable(p) for p in rep.folders))
            emit(args, rep, "\n\n".join(text))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``subject``."""
    s = sub.add_parser("subject", parents=[common],
                       help="data-subject requests: find, export, erase (GDPR)")
    ssub = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    helps = {"find": "what the gateway holds about a person: account, files, events",
             "export": "one ZIP: the files (decrypted), account data, events, manifest",
             "erase": "delete the files and account, erase identifiers from the audit trail"}
    for action, text in helps.items():
        a = ssub.add_parser(action, parents=[common], help=text)
        a.add_argument("--tenant", required=True)
        a.add_argument("--user", help="the person's account (name without @TENANT)")
        a.add_argument("--name-pattern", metavar="GLOB",
                       help="file or folder names that identify the person (e.g. '*Doe*')")
        a.add_argument("--text-in-names", metavar="TEXT",
                       help="a text that occurs in names of the person's files or folders")
        if action == "find":
            a.add_argument("--limit", type=int, default=None,
                           help="list at most this many events")
        elif action == "export":
            a.add_argument("--out", required=True, metavar="FILE.zip",
                           help="the archive to write (must not exist)")
        else:
            a.add_argument("--dry-run", action="store_true",
                           help="list exactly what would go; change nothing")
            a.add_argument("--yes", action="store_true", help="confirm the erasure")
    s.set_defaults(func=cmd_subject)
