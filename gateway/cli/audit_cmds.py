"""``audit verify|tail|query|erase|checkpoint|export``: check the chains, read the trail,
erase a person's identifiers, rewrite a lost checkpoint, export exactly once.

``verify`` checks every chain's MACs (under the audit key, so it needs the master key)
and compares each head with the signed checkpoint file; a missing or altered checkpoint
is a problem too (exit 1), since a truncated chain would go unnoticed without it.

Events are shown in time order (ties by chain sequence), whatever order they were stored
in. ``--format json`` is one JSON document, ``jsonl`` one object per line; ``--json`` on
``verify`` and ``tail`` means the same as ``--format json``. Output is streamed, so
``audit query | head`` ends quietly.
"""

from __future__ import annotations

import argparse
import sys
import time

from gateway import admin
from gateway.audit import FORMATS
from gateway.cli.common import EXIT_ERROR, open_core, parse_when
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import dump_json


def _format(args: argparse.Namespace) -> str:
    """``--json`` picks JSON (lines while following) unless a format was given."""
    if args.format is not None:
        return args.format
    if args.json:
        return "jsonl" if getattr(args, "follow", False) else "json"
    return "table"


def _write(pieces) -> None:  # type: ignore[no-untyped-def]
    out = sys.stdout
    for piece in pieces:
        out.write(piece)
    out.flush()


def cmd_audit(args: argparse.Namespace, cfg: Config) -> int:
    with open_core(cfg) as core:
        if args.action == "verify":
            return _verify(args, core)
        if args.action == "tail":
            return _tail(args, core)
        if args.action == "erase":
            return _erase(args, core)
        if args.action == "checkpoint":
            return _checkpoint(args, core)
        if args.action == "export":
            return _export(args, core)
        from gateway.audit import query_events, render_events

        with core.catalog.read() as conn:
            events = query_events(conn, tenant=args.tenant, user=args.user,
                                  since=parse_when(args.since), until=parse_when(args.until),
                                  action=args.action_filter, path=args.path, limit=args.limit,
                                  result=args.result)
            _write(render_events(events, _format(args)))
    return 0


def _verify(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.auditv2.verify_all import verify_all

    report = verify_all(core, args.tenant)
    if args.json:
        print(dump_json(report))
    else:
        for f in report["problems"]:
            print(f"audit chain of {f['tenant']}: event {f['seq']} {f['kind']}: "
                  f"{f['detail']}", file=sys.stderr)
        if report["intact"]:
            print(f"audit chains intact: {report['chains_checked']} checked")
    return 0 if report["intact"] else EXIT_ERROR


def _erase(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.auditv2.erase import erase_subject

    if not args.yes:
        raise GatewayError("`audit erase` deletes a person's identifiers from the audit "
                           "trail for good: add --yes to confirm")
    counts = erase_subject(core, args.tenant, args.user)
    if args.json:
        print(dump_json({"erased": counts}))
    else:
        print("erased: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _checkpoint(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.auditv2 import checkpoint

    if not args.yes:
        raise GatewayError("`audit checkpoint` trusts the catalog's current chain heads "
                           "(an earlier truncation would go unnoticed): add --yes to confirm")
    path = core.config.audit_checkpoint_file
    checkpoint.write(path, core.audit.key, core.catalog)
    admin.record_admin_action(core, "audit-checkpoint", reason="checkpoint rewritten by hand")
    print(f"audit checkpoint written: {path}")
    return 0


def _export(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    """To a file (``--output``) or stdout (a SIEM's pipe: needs ``--since-cursor``); JSON
    lines or CEF; ``--follow`` until SIGTERM/SIGINT, stopping between batches."""
    import signal
    import threading
    from pathlib import Path

    from gateway.auditv2.export import export_follow, export_once, export_stream

    if args.output is None and args.cursor is None:
        raise GatewayError("`audit export` to stdout needs --since-cursor FILE (where the "
                           "position is kept), or write to a file with --output FILE")
    output = Path(args.output) if args.output else None
    cursor = Path(args.cursor) if args.cursor else \
        output.with_name(output.name + ".cursor")  # type: ignore[union-attr]
    if args.follow:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        export_follow(core.catalog, output, cursor, args.interval, lambda: not stop.is_set(),
                      args.format, from_start=args.from_start, wait=stop.wait)
        return 0
    if output is None:
        export_stream(core.catalog, sys.stdout, cursor, args.format,
                      from_start=args.from_start)
        return 0
    n = export_once(core.catalog, output, cursor, args.format)
    print(f"exported {n} events to {output}")
    return 0


def _tail(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.audit import events_after, render_events, tail_events

    fmt = _format(args)
    if args.follow and fmt == "json":
        raise GatewayError("`audit tail -f` cannot print one JSON document: use "
                           "--format jsonl")
    with core.catalog.read() as conn:
        rows, top = tail_events(conn, args.lines)
    _write(render_events(rows, fmt))
    while args.follow:
        time.sleep(1)
        with core.catalog.read() as conn:
            rows, top = events_after(conn, top)
        if rows:
            _write(render_events(rows, fmt, header=False))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``audit``."""
    au = sub.add_parser("audit", parents=[common], help="verify and query the audit log")
    asub = au.add_subparsers(dest="action", required=True, metavar="ACTION")
    asub.add_parser("verify", parents=[common],
                    help="check the hash chains (exit 1 if one is broken)").add_argument(
        "tenant", nargs="?", help="only this tenant's chain")
    a = asub.add_parser("tail", parents=[common], help="the latest events, in time order")
    a.add_argument("-n", "--lines", type=int, default=20)
    a.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    a.add_argument("--format", choices=FORMATS, default=None,
                   help="table (default), csv, json (one document) or jsonl (lines)")
    a = asub.add_parser("query", parents=[common], help="search events, in time order")
    a.add_argument("--tenant")
    a.add_argument("--user")
    a.add_argument("--since", help="ISO date/time (UTC if no zone)")
    a.add_argument("--until")
    a.add_argument("--action", dest="action_filter")
    a.add_argument("--path", help="path prefix")
    a.add_argument("--result", choices=("ok", "denied", "miss", "error"),
                   help="miss: lookups of paths that do not exist (not errors)")
    a.add_argument("--limit", type=int)
    a.add_argument("--format", choices=FORMATS, default=None,
                   help="table (default), csv, json (one document) or jsonl (lines)")
    a = asub.add_parser("erase", parents=[common],
                        help="erase one user's identifiers from the audit trail (GDPR)")
    a.add_argument("--tenant", required=True)
    a.add_argument("--user", required=True)
    a.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    asub.add_parser("checkpoint", parents=[common],
                    help="write the signed checkpoint anew (only if it was lost)").add_argument(
        "--yes", action="store_true", help="confirm: the current heads are trusted")
    a = asub.add_parser("export", parents=[common],
                        help="new events to a file or stdout (JSON lines or CEF), exactly once")
    a.add_argument("--output", help="the file (appended to); default: stdout (a SIEM's pipe)")
    a.add_argument("--cursor", "--since-cursor", dest="cursor",
                   help="where the position is kept (default: OUTPUT.cursor)")
    a.add_argument("--format", choices=("json", "cef"), default="json",
                   help="json: one JSON object per line (default); cef: ArcSight CEF lines")
    a.add_argument("--from-start", action="store_true",
                   help="a new cursor on stdout starts at the first event (default: now)")
    a.add_argument("-f", "--follow", action="store_true",
                   help="keep exporting new events until SIGTERM/SIGINT")
    a.add_argument("--interval", type=float, default=1.0,
                   help="seconds between rounds while following (default 1)")
    au.set_defaults(func=cmd_audit)
