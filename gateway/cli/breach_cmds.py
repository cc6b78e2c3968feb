"""``breach report|record|list|show``: a personal data breach (GDPR Art. 33/34).

``report`` gathers, from one tenant's audit trail of a window, what the incident's
indicators (``--addresses``, ``--accounts``) touched, with the notification form's fields
(JSON, or one self-contained HTML file); it is audited (``breach-report``: it reads
people's activity). ``record`` adds a breach to the register (Art. 33(5)), optionally with
a report attached; ``list`` and ``show`` read the register.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.cli.common import csv_list, open_core, parse_when, shown_time
from gateway.config import Config
from gateway.errors import ConfigError
from gateway.textout import dump_json, printable_lines, table


def cmd_breach(args: argparse.Namespace, cfg: Config) -> int:
    with open_core(cfg) as core:
        return {"report": _report, "record": _record, "list": _list,
                "show": _show}[args.action](args, core)


def _required_when(text: str, option: str):  # type: ignore[no-untyped-def]
    when = parse_when(text)
    if when is None:
        raise ConfigError(f"{option} needs a date: write e.g. 2026-11-28T13:00")
    return when


def _write_out(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    tmp = Path(out + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)


def _report(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.admin import record_admin_action
    from gateway.compliance.breach.indicators import Indicators
    from gateway.compliance.breach.report import build_report

    indicators = Indicators.parse(csv_list(args.addresses or ""), csv_list(args.accounts or ""))
    until = _required_when(args.until, "--until") if args.until else datetime.now(UTC)
    report = build_report(core, args.tenant, _required_when(args.since, "--since"), until,
                          indicators,
                          discovered=parse_when(args.discovered))
    if args.format == "html":
        from gateway.compliance.breach.html import render_html

        text = render_html(report)
    else:
        text = dump_json(report)
    record_admin_action(core, "breach-report", tenant=report["tenant"]["name"], reason=(
        f"window {report['window']['since']}..{report['window']['until']}; "
        f"{json.dumps(indicators.describe(), sort_keys=True)}"))
    _write_out(text, args.out)
    if args.out:
        c = report["counts"]
        print(f"breach report written to {args.out}: {c['accounts']} account(s), "
              f"{c['addresses']} address(es), {c['files']} file(s), {c['files_read']} read",
              file=sys.stderr)
    return 0


def _load_report(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--report {path}: not a readable JSON report ({exc}); make one "
                          "with `breach report --format json --out FILE`") from None
    if not isinstance(data, dict) or "authority_form" not in data:
        raise ConfigError(f"--report {path} is not a `breach report --format json` file")
    return data


def _record(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.compliance.breach.register import record_breach

    b = record_breach(core, args.tenant, discovered=_required_when(args.discovered,
                                                                   "--discovered"),
                      nature=args.nature, measures=args.measures,
                      report=_load_report(args.report),
                      notified_authority=parse_when(args.notified_authority),
                      notified_subjects=parse_when(args.notified_subjects))
    _emit(args, b, f"breach {b.id} recorded for {b.tenant}; notify the authority by "
                   f"{shown_time(b.notification_deadline)} (72 hours after discovery)")
    return 0


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(dump_json(data) if args.json else printable_lines(text))


def _list(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.compliance.breach.register import list_breaches

    rows = list_breaches(core, args.tenant)
    _emit(args, rows, table([[str(b.id), b.tenant, shown_time(b.discovered_at),
                              shown_time(b.notification_deadline),
                              shown_time(b.notified_authority_at),
                              shown_time(b.notified_subjects_at), b.nature[:60]]
                             for b in rows],
                            ("id", "tenant", "discovered", "deadline", "authority",
                             "subjects", "nature")))
    return 0


def _show(args: argparse.Namespace, core) -> int:  # type: ignore[no-untyped-def]
    from gateway.compliance.breach.register import show_breach

    b = show_breach(core, args.id)
    counts = (b.report or {}).get("counts")
    _emit(args, b, "\n".join([
        f"breach {b.id} of tenant {b.tenant}",
        f"discovered:            {shown_time(b.discovered_at)}",
        f"notify authority by:   {shown_time(b.notification_deadline)}",
        f"authority notified:    {shown_time(b.notified_authority_at, 'no')}",
        f"data subjects told:    {shown_time(b.notified_subjects_at, 'no')}",
        f"recorded:              {shown_time(b.recorded_at)}",
        f"nature:                {b.nature}",
        f"measures:              {b.measures or '-'}",
        f"report attached:       {json.dumps(counts, sort_keys=True) if counts else 'no'}"]))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``breach``."""
    br = sub.add_parser("breach", parents=[common],
                        help="personal data breaches: incident report and register (GDPR)")
    bsub = br.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = bsub.add_parser("report", parents=[common],
                        help="what an incident's addresses/accounts touched in a window")
    a.add_argument("--tenant", required=True)
    a.add_argument("--since", required=True, help="ISO date/time (UTC if no zone)")
    a.add_argument("--until", help="ISO date/time, exclusive (default: now)")
    a.add_argument("--addresses", help="client addresses or networks, comma-separated (CIDR)")
    a.add_argument("--accounts", help="user names, comma-separated")
    a.add_argument("--discovered", help="when the breach was discovered (the 72-hour clock)")
    a.add_argument("--format", choices=("json", "html"), default="json")
    a.add_argument("--out", help="write to this file (mode 600) instead of stdout")
    a = bsub.add_parser("record", parents=[common], help="add a breach to the register")
    a.add_argument("--tenant", required=True)
    a.add_argument("--discovered", required=True, help="ISO date/time of discovery")
    a.add_argument("--nature", required=True, help="what happened")
    a.add_argument("--report", help="a `breach report --format json` file to attach")
    a.add_argument("--notified-authority", help="when the supervisory authority was told")
    a.add_argument("--notified-subjects", help="when the data subjects were told")
    a.add_argument("--measures", help="measures taken or proposed")
    bsub.add_parser("list", parents=[common], help="the breach register").add_argument(
        "--tenant", help="only this tenant's breaches")
    bsub.add_parser("show", parents=[common], help="one breach of the register").add_argument(
        "id", type=int)
    br.set_defaults(func=cmd_breach)
