"""Personal data breaches (``breach report|record|list|show``, gateway/compliance/breach):
the incident report of a window (JSON or one HTML file; audited ``breach-report`` since it
reads people's activity) and the register (Art. 33(5))."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from gateway.admin_api.calls import ApiError, Call, not_found, page, when
from gateway.admin_api.routes import STR, Param, Registry, Reply, obj

T = "/v1/tenants/{tenant}"
OBJECT = {"type": "object", "description": "a report from GET .../breach-report"}


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _past(name: str, text: str | None) -> datetime | None:
    """A time of the past: an ISO date/time (``when`` reads durations forwards)."""
    if text is not None and re.fullmatch(r"\d+[mhdw]", text.strip().lower()):
        raise ApiError(422, "invalid_field", f"{name}={text!r}: write a date/time, e.g. "
                       "2026-11-28T13:00")
    return when(name, text)


def register(api: Registry) -> None:
    @api.route("GET", f"{T}/breach-report", scope="reports",
               query=(Param("since", "start of the window (ISO date/time)", required=True),
                      Param("until", "end of the window, exclusive (default: now)"),
                      Param("addresses", "client addresses or CIDR networks, comma-separated"),
                      Param("accounts", "user names, comma-separated"),
                      Param("discovered", "when the breach was discovered (72-hour clock)"),
                      Param("format", "json (default) or html (one self-contained file)")),
               content=("text/html",),
               summary="What an incident's addresses/accounts touched in a window")
    def report(call: Call) -> Any:
        from gateway.admin import record_admin_action
        from gateway.compliance.breach.indicators import Indicators
        from gateway.compliance.breach.report import build_report

        fmt = call.arg("format", "json")
        if fmt not in ("json", "html"):
            raise ApiError(400, "bad_parameter", f"format={fmt!r}: choose json or html")
        since = _past("since", call.arg("since"))
        if since is None:
            raise ApiError(422, "missing_field", "give since=<ISO date/time>")
        indicators = Indicators.parse(_csv(call.arg("addresses")), _csv(call.arg("accounts")))
        data = build_report(call.core, call.tenant(), since,
                            _past("until", call.arg("until")) or datetime.now(UTC),
                            indicators, discovered=_past("discovered", call.arg("discovered")))
        record_admin_action(call.core, "breach-report", tenant=data["tenant"]["name"], reason=(
            f"window {data['window']['since']}..{data['window']['until']}; "
            f"{json.dumps(indicators.describe(), sort_keys=True)}"))
        if fmt == "html":
            from gateway.compliance.breach.html import render_html

            return Reply(render_html(data).encode("utf-8"),
                         content_type="text/html; charset=utf-8")
        return data

    @api.route("POST", f"{T}/breaches", scope="reports", status=201,
               body=obj(("discovered", "nature"), discovered=STR, nature=STR, measures=STR,
                        report=OBJECT, notified_authority=STR, notified_subjects=STR),
               summary="Add a breach to the register (72-hour deadline from discovery)")
    def record(call: Call) -> Any:
        from gateway.compliance.breach.register import record_breach

        attached = call.field("report", dict)
        if attached is not None and "authority_form" not in attached:
            raise ApiError(422, "invalid_field", "'report' must be a breach report (GET "
                           f"/v1/tenants/{call.tenant()}/breach-report)")
        discovered = _past("discovered", call.field("discovered", str, required=True))
        return record_breach(
            call.core, call.tenant(), discovered=discovered,  # type: ignore[arg-type]
            nature=call.field("nature", str, required=True),
            measures=call.field("measures", str), report=attached,
            notified_authority=_past("notified_authority",
                                     call.field("notified_authority", str)),
            notified_subjects=_past("notified_subjects", call.field("notified_subjects", str)))

    @api.route("GET", "/v1/breaches", scope="reports", paginated=True,
               query=(Param("tenant", "only this tenant's breaches"),),
               summary="The breach register (a tenant token sees its tenant's)")
    def list_all(call: Call) -> dict[str, Any]:
        from gateway.compliance.breach.register import list_breaches

        return page(call, list_breaches(call.core, call.allowed_tenant_filter(
            call.arg("tenant"))))

    @api.route("GET", "/v1/breaches/{breach}", scope="reports",
               summary="One breach of the register, with its attached report")
    def show(call: Call) -> Any:
        from gateway.compliance.breach.register import show_breach

        try:
            breach_id = int(call.params["breach"])
        except ValueError:
            raise not_found("breach") from None
        b = show_breach(call.core, breach_id)
        if call.token.tenant is not None and b.tenant != call.token.tenant:
            raise not_found("breach")
        call.tenant_name = b.tenant
        return b
