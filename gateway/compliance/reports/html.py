"""Reports as one self-contained HTML file (jinja2, autoescaped, streamed).

Every value is HTML-escaped by the template engine and, before that, has its control
characters made visible (``gateway.textout.printable``: a file name with an escape
sequence or a bidi override shows as ``\\x1b`` / ``\\u202e``); only the chart, which
``svg`` builds from escaped parts, goes in as markup. The event table lists the first
``max_rows`` events and says so when the period has more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined
from markupsafe import Markup

from gateway.compliance.reports.activity import ActivityReport
from gateway.compliance.reports.logins import COLUMNS as LOGIN_COLUMNS, LoginReport
from gateway.compliance.reports.svg import volume_chart
from gateway.compliance.reports.templates import TEMPLATES
from gateway.textout import human_size, printable

#: events (logins) an HTML report lists unless told otherwise
HTML_ROWS = 1000
TOP_USERS = 20
EVENT_COLUMNS = ("ts", "user", "protocol", "remote_addr", "action", "path", "dest_path",
                 "bytes", "result", "reason")


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return printable(value) if isinstance(value, str) else value


_ENV = Environment(loader=DictLoader(TEMPLATES), autoescape=True, finalize=_finalize,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _sizes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "uploaded": human_size(r["upload_bytes"]),
             "downloaded": human_size(r["download_bytes"])} for r in rows]


def activity_html(report: ActivityReport, max_rows: int | None = HTML_ROWS) -> Iterator[str]:
    """The activity report as HTML, in pieces."""
    t = report.totals
    events: Iterable[dict[str, Any]] = report.events()
    if max_rows is not None:
        events = islice(events, max_rows)
    return _ENV.get_template("activity").generate(
        title=f"Activity report: {printable(report.scope.tenant)}",
        generated=report.generated.isoformat(timespec="seconds"),
        scope=report.scope.as_dict(), chain=report.chain.as_dict(),
        s={**t.summary, "uploaded": human_size(t.summary["upload_bytes"]),
           "downloaded": human_size(t.summary["download_bytes"])},
        chart=volume_chart(t.volume), by_protocol=_sizes(t.by_protocol),
        top_users=_sizes(t.by_user[:TOP_USERS]), users_total=len(t.by_user),
        users_cut=len(t.by_user) > TOP_USERS, top_paths=t.top_paths,
        by_action=_sizes(t.by_action), by_day=_sizes(t.by_day),
        failed_logins=report.failed_logins.as_dict(),
        admin_actions=report.admin_actions.as_dict(),
        event_columns=EVENT_COLUMNS, events=events)


def logins_html(report: LoginReport, rows: Iterable[dict[str, Any]],
                max_rows: int | None = HTML_ROWS) -> Iterator[str]:
    """The login history as HTML, in pieces (``rows`` from ``iter_logins``)."""
    if max_rows is not None:
        rows = islice(rows, max_rows)
    return _ENV.get_template("logins").generate(
        title=f"Login report: {printable(report.scope.tenant)}",
        generated=report.generated.isoformat(timespec="seconds"),
        scope=report.scope.as_dict(), summary=report.summary, by_user=report.by_user,
        columns=LOGIN_COLUMNS, logins=rows)
