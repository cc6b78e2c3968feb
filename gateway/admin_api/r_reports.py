"""Activity and login reports of a tenant (``report activity|logins``), over the same
functions (gateway/compliance/reports): JSON with the totals and a page of events, or
``format=csv|html`` streamed as a download (rows read in batches: bounded memory)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import and_

from gateway.admin_api.calls import DEFAULT_LIMIT, MAX_LIMIT, ApiError, Call, when
from gateway.admin_api.routes import Param, Registry, Reply
from gateway.catalog.tables import audit_events

REPORT = "/v1/tenants/{tenant}/reports"
PERIOD = (Param("user", "only this user"),
          Param("since", "from this ISO time (default: the start)"),
          Param("until", "before this ISO time (default: now)"),
          Param("format", "json (default: totals and a page of rows), csv or html "
                "(the report, streamed as a download; html lists the first 1000 rows)"))
ACTIVITY = (Param("path", "only this path and below"),
            Param("protocol", "only this protocol (webdav, sftp, admin, api)"),
            Param("action", "only this action (write, read, login, ...)"),
            Param("verify", "check the audit chains of the period (default true; json: on "
                  "the first page only)", "boolean"),
            Param("limit", "events per page (1-500, default 100; json)", "integer"),
            Param("cursor", "opaque cursor from the previous page's next_cursor (json)"))
DOWNLOADS = ("text/csv", "text/html")
CONTENT = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}


def _scope(call: Call, **extra: str | None):  # type: ignore[no-untyped-def]
    from gateway.compliance.reports.scope import make_scope

    return make_scope(call.core.catalog, call.tenant(), user=call.arg("user"),
                      since=when("since", call.arg("since")),
                      until=when("until", call.arg("until")), **extra)


def _format(call: Call) -> str:
    fmt = call.arg("format", "json")
    if fmt not in ("json", "csv", "html"):
        raise ApiError(400, "bad_parameter", f"format={fmt!r}: choose json, csv or html")
    return str(fmt)


def _download(pieces: Any, fmt: str, name: str) -> Reply:
    return Reply(stream=pieces, content_type=CONTENT[fmt],
                 headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def _verify(call: Call, fmt: str) -> bool:
    """The chain check: asked for (default yes), and not again on later JSON pages."""
    return call.arg("verify", "true").lower() != "false" and not (
        fmt == "json" and call.arg("cursor"))


def _cursor(text: str | None) -> tuple[datetime | None, int]:
    """(time of the last row sent, rows of that time already sent)."""
    if not text:
        return None, 0
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return datetime.fromisoformat(data["t"]), int(data["n"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(400, "bad_cursor", "the cursor is not one this API gave out: start "
                       "again without `cursor`") from None


def _next_cursor(rows: list[dict[str, Any]], last: datetime | None, skipped: int) -> str:
    ts = rows[-1]["ts"]
    ties = sum(1 for r in rows if r["ts"] == ts) + (skipped if ts == last else 0)
    raw = json.dumps({"t": ts.isoformat(), "n": ties}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def event_page(call: Call, scope: Any, action: str | None = None
               ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the scope's events (time order), keyset on (time, ties already sent)."""
    from gateway.compliance.reports.events import iter_events

    limit = call.int_arg("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_parameter", f"limit must be 1 to {MAX_LIMIT}")
    last, skip = _cursor(call.arg("cursor"))
    extra = None if last is None else and_(audit_events.c.ts >= last)
    rows = list(islice(iter_events(call.core.catalog, scope, action=action, extra=extra,
                                   limit=skip + limit + 1), skip, None))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, _next_cursor(rows, last, skip) if more and rows else None


def register(api: Registry) -> None:
    @api.route("GET", f"{REPORT}/activity", scope="reports", query=PERIOD + ACTIVITY,
               content=DOWNLOADS,
               summary="Who did what, when, where, over which protocol (report activity)")
    def activity(call: Call) -> Any:
        from gateway.compliance.reports.activity import activity_report
        from gateway.compliance.reports.html import activity_html
        from gateway.compliance.reports.scope import record_report
        from gateway.compliance.reports.textformats import events_csv

        fmt = _format(call)
        scope = _scope(call, path=call.arg("path"), protocol=call.arg("protocol"),
                       action=call.arg("action"))
        report = activity_report(call.core.catalog, scope, key=call.core.audit.key,
                                 checkpoint_file=call.core.config.audit_checkpoint_file,
                                 verify=_verify(call, fmt))
        record_report(call.core, "activity", scope, fmt)  # who read the trail, as the CLI
        if fmt == "csv":
            return _download(events_csv(report.events()), fmt, f"activity-{scope.tenant}")
        if fmt == "html":
            return _download(activity_html(report), fmt, f"activity-{scope.tenant}")
        rows, cursor = event_page(call, scope)
        return {**report.head(), "events": rows, "next_cursor": cursor}

    @api.route("GET", f"{REPORT}/logins", scope="reports", query=PERIOD + ACTIVITY[-2:],
               content=DOWNLOADS,
               summary="Login history: success/failure, address, method, client")
    def logins(call: Call) -> Any:
        from gateway.compliance.reports.html import logins_html
        from gateway.compliance.reports.logins import iter_logins, login_report, login_row
        from gateway.compliance.reports.scope import record_report
        from gateway.compliance.reports.textformats import logins_text

        fmt = _format(call)
        scope = _scope(call)
        report = login_report(call.core.catalog, scope)
        record_report(call.core, "logins", scope, fmt)
        rows = iter_logins(call.core.catalog, scope)
        if fmt == "csv":
            return _download(logins_text(report, rows, "csv"), fmt, f"logins-{scope.tenant}")
        if fmt == "html":
            return _download(logins_html(report, rows), fmt, f"logins-{scope.tenant}")
        page, cursor = event_page(call, scope, action="login")
        return {**report.head(), "logins": [login_row(r) for r in page],
                "next_cursor": cursor}
