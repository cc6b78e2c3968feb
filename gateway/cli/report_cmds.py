"""``report activity|logins``: a tenant's activity and login history from the audit trail.

Thin over ``gateway.compliance.reports``: the command builds the scope, asks for the
report and streams it (``--out FILE``: written to FILE.tmp, mode 0600 since it holds
personal data, then renamed; else stdout). ``--format html`` is one self-contained file
whose header says whether the audit chains of the period verified intact. Reading the
trail changes nothing, so a report is not itself an audit event.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from gateway.cli.common import open_core, parse_when
from gateway.config import Config
from gateway.errors import GatewayError

FORMATS = ("table", "csv", "json", "html")


def _format(args: argparse.Namespace) -> str:
    return args.format or ("json" if args.json else "table")


def _max_rows(text: str | None) -> int | None:
    if text is None or text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise GatewayError(f"--max-events {text!r}: give a number or `all`") from None
    if n < 0:
        raise GatewayError("--max-events must be 0 or more (or `all`)")
    return n


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write(pieces: Iterable[str], out: TextIO) -> None:
    for piece in pieces:
        out.write(piece)


def cmd_report(args: argparse.Namespace, cfg: Config) -> int:
    from gateway.compliance.reports import progress
    from gateway.compliance.reports.scope import make_scope, record_report

    fmt = _format(args)
    limit = _max_rows(args.max_events)
    show = args.out is not None and progress.wanted()
    with open_core(cfg) as core:
        scope = make_scope(core.catalog, args.tenant, user=args.user,
                           path=getattr(args, "path", None),
                           protocol=getattr(args, "protocol", None),
                           action=getattr(args, "action_filter", None),
                           since=parse_when(args.since), until=parse_when(args.until))
        with _output(args.out) as out:
            if args.kind == "activity":
                _activity(core, scope, fmt, limit, out, show, verify=not args.no_verify)
            else:
                _logins(core, scope, fmt, limit, out, show)
        record_report(core, args.kind, scope, fmt)
    if args.out:
        print(f"report written: {args.out}", file=sys.stderr)
    return 0


def _activity(core, scope, fmt: str, limit: int | None, out: TextIO, show: bool,  # type: ignore[no-untyped-def]
              *, verify: bool) -> None:
    from gateway.compliance.reports import progress
    from gateway.compliance.reports.activity import activity_report
    from gateway.compliance.reports.html import HTML_ROWS, activity_html
    from gateway.compliance.reports.textformats import activity_text

    with progress.status("totals and audit chain check", show=show):
        report = activity_report(core.catalog, scope, key=core.audit.key,
                                 checkpoint_file=core.config.audit_checkpoint_file,
                                 verify=verify)
    events = report.events
    total = report.event_count if limit is None else min(limit, report.event_count)
    report.events = lambda: progress.tracked(events(), total, "events", show=show)
    if fmt == "html":
        _write(activity_html(report, HTML_ROWS if limit is None else limit), out)
    else:
        _write(activity_text(report, fmt, limit), out)
    if report.chain.checked and not report.chain.verified:  # csv rows cannot say it
        first = report.chain.problems[0]
        print(f"lumanox-gateway: warning: the audit trail of this period is NOT VERIFIED "
              f"(chain {first['chain']}, event {first['seq']}: {first['kind']}): see "
              "`lumanox-gateway audit verify`", file=sys.stderr)


def _logins(core, scope, fmt: str, limit: int | None, out: TextIO, show: bool) -> None:  # type: ignore[no-untyped-def]
    from gateway.compliance.reports import progress
    from gateway.compliance.reports.html import HTML_ROWS, logins_html
    from gateway.compliance.reports.logins import iter_logins, login_report
    from gateway.compliance.reports.textformats import logins_text

    report = login_report(core.catalog, scope)
    rows = progress.tracked(iter_logins(core.catalog, scope), report.summary["attempts"],
                            "logins", show=show)
    if fmt == "html":
        _write(logins_html(report, rows, HTML_ROWS if limit is None else limit), out)
    else:
        _write(logins_text(report, rows, fmt, limit), out)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``report``."""
    rp = sub.add_parser("report", parents=[common],
                        help="activity and login reports of a tenant (audit trail)")
    rsub = rp.add_subparsers(dest="kind", required=True, metavar="REPORT")
    for kind, text in (("activity", "who did what, when, where, over which protocol"),
                       ("logins", "login history: success/failure, address, method, client")):
        a = rsub.add_parser(kind, parents=[common], help=text)
        a.add_argument("--tenant", required=True)
        a.add_argument("--user", help="only this user (name, or USER@TENANT)")
        if kind == "activity":
            a.add_argument("--path", help="only this path and below")
            a.add_argument("--protocol", help="only this protocol (webdav, sftp, scp, admin)")
            a.add_argument("--action", dest="action_filter",
                           help="only this action (write, read, login, ...)")
            a.add_argument("--no-verify", action="store_true",
                           help="skip the audit chain check (the report says NOT CHECKED)")
        a.add_argument("--since", help="ISO date/time (UTC if no zone); default: the start")
        a.add_argument("--until", help="ISO date/time, excluded; default: now")
        a.add_argument("--format", choices=FORMATS, default=None,
                       help="table (default), csv (rows), json (one document) or html "
                       "(one self-contained file)")
        a.add_argument("--out", help="write to this file (mode 0600) instead of stdout")
        a.add_argument("--max-events", metavar="N|all",
                       help="rows to list (default: all in csv/json, 1000 in html, 50 in "
                       "table); totals always count every event")
    rp.set_defaults(func=cmd_report)
