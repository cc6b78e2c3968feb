"""Reports as text: table (for people), csv (the events or logins, one per row) and json
(one document: the report's head, then its rows). Every format but table streams its rows;
control characters are escaped as ``gateway.textout`` does (visible in table and csv,
JSON escapes in json).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from gateway.audit import EXPORT_COLUMNS, render_events
from gateway.compliance.reports.activity import ActivityReport
from gateway.compliance.reports.logins import COLUMNS as LOGIN_COLUMNS, LoginReport
from gateway.textout import human_size, json_safe, printable, table, to_jsonable

TEXT_FORMATS = ("table", "csv", "json")
#: events (logins) a table lists unless told otherwise
TABLE_ROWS = 50


def _json(value: Any) -> str:
    return json_safe(json.dumps(to_jsonable(value), ensure_ascii=False, sort_keys=True))


def _ts(row: dict[str, Any]) -> dict[str, Any]:
    ts = row["ts"]
    return {**row, "ts": ts.isoformat(timespec="milliseconds")
            if isinstance(ts, datetime) else ts}


def json_document(head: dict[str, Any], key: str, rows: Iterable[dict[str, Any]]
                  ) -> Iterator[str]:
    """``{...head, key: [rows...], "<key>_listed": n}``, the rows streamed."""
    body = _json(head)
    yield body[:-1] + ("," if len(body) > 2 else "") + f' "{key}": ['
    n = 0
    for row in rows:
        yield ("\n" if n == 0 else ",\n") + _json(_ts(row))
        n += 1
    yield f'\n], "{key}_listed": {n}}}\n'


def _csv_rows(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for i, row in enumerate(rows, 1):
        r = _ts(row)
        writer.writerow(["" if r[c] is None else printable(str(r[c])) for c in columns])
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return value


def events_csv(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The events as ``audit query --format csv`` writes them (same columns, escapes and
    times), without its per-row dict copies: the one pass over every event of a period."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for i, e in enumerate(events, 1):
        writer.writerow([_cell(e[c]) for c in EXPORT_COLUMNS])
        if i % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _section(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not rows:
        return f"\n{title}: none\n"
    cells = [["" if r.get(c) is None else str(r[c]) for c in columns] for r in rows]
    return f"\n{title}\n{table(cells, columns)}\n"


def _volume(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "uploaded": human_size(r["upload_bytes"]),
             "downloaded": human_size(r["download_bytes"])} for r in rows]


def activity_text(report: ActivityReport, fmt: str, max_rows: int | None = None
                  ) -> Iterator[str]:
    """The activity report in ``fmt``; ``max_rows`` events at most (None: all; table: 50)."""
    events = report.events()
    if max_rows is not None:
        events = islice(events, max_rows)
    if fmt == "json":
        yield from json_document(report.head(), "events", events)
    elif fmt == "csv":
        yield from events_csv(events)
    elif fmt == "table":
        yield from _activity_table(report, islice(events, TABLE_ROWS)
                                   if max_rows is None else events)
    else:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(TEXT_FORMATS)}")


def _activity_table(report: ActivityReport, events: Iterable[dict[str, Any]]) -> Iterator[str]:
    s, t = report.scope, report.totals
    sm = t.summary
    yield (f"activity of tenant {printable(s.tenant)} from {s.as_dict()['since'] or 'the start'}"
           f" to {s.as_dict()['until']}\n"
           f"events {sm['events']}, users {sm['users']}, uploaded "
           f"{human_size(sm['upload_bytes'])}, downloaded {human_size(sm['download_bytes'])}, "
           f"failed {sm['failed']}\naudit chain: {report.chain.label}\n")
    for p in report.chain.problems:
        yield printable(f"  chain {p['chain']} event {p['seq']} {p['kind']}: {p['detail']}") + "\n"
    cols = ("events", "uploaded", "downloaded", "failed")
    yield _section("per user", _volume(t.by_user), ("user", *cols))
    yield _section("per protocol", _volume(t.by_protocol), ("protocol", *cols))
    yield _section("per action", _volume(t.by_action), ("action", *cols))
    yield _section("per day", _volume(t.by_day), ("day", *cols))
    yield _section("top paths", t.top_paths, ("path", "events", "bytes"))
    for title, lst in (("failed logins", report.failed_logins),
                       ("admin actions", report.admin_actions)):
        rows = [_ts(r) for r in lst.rows]
        note = f" (first {len(rows)} of {lst.total})" if lst.cut else ""
        yield _section(title + note, rows, ("ts", "user", "remote_addr", "protocol", "action",
                                            "result", "reason"))
    listed = list(events)
    note = f" (first {len(listed)} of {sm['events']})" if len(listed) < sm["events"] else ""
    yield f"\nevents{note}\n"
    yield from render_events(listed, "table")


def logins_text(report: LoginReport, rows: Iterable[dict[str, Any]], fmt: str,
                max_rows: int | None = None) -> Iterator[str]:
    """The login history in ``fmt`` (``rows`` from ``iter_logins``)."""
    if max_rows is not None:
        rows = islice(rows, max_rows)
    if fmt == "json":
        yield from json_document(report.head(), "logins", rows)
    elif fmt == "csv":
        yield from _csv_rows(rows, LOGIN_COLUMNS)
    elif fmt == "table":
        sm = report.summary
        listed = [_ts(r) for r in (islice(rows, TABLE_ROWS) if max_rows is None else rows)]
        yield (f"logins of tenant {printable(report.scope.tenant)}: {sm['attempts']} attempts, "
               f"{sm['ok']} accepted steps, {sm['failed']} refused, {sm['users']} users\n")
        yield _section("per user", report.by_user, ("user", "attempts", "ok", "failed"))
        note = f" (first {len(listed)} of {sm['attempts']})" if len(listed) < sm["attempts"] \
            else ""
        yield _section("logins" + note, listed, ("ts", "user", "result", "remote_addr",
                                                 "protocol", "method", "second_factor",
                                                 "client", "step"))
    else:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(TEXT_FORMATS)}")
