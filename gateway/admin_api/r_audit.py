"""The audit trail: events after a cursor (a SIEM feed: long poll, CEF; see
``auditfeed``) and the chains verified."""

from __future__ import annotations

from typing import Any

from gateway.admin_api import auditfeed
from gateway.admin_api.calls import DEFAULT_LIMIT, MAX_LIMIT, ApiError, Call, when
from gateway.admin_api.routes import Param, Registry, Reply
from gateway.catalog.tables import audit_events

FILTERS = (Param("tenant", "only this tenant's events"), Param("user", "only this user's"),
           Param("action", "only this action, e.g. user-create"),
           Param("result", "ok, denied, miss or error"),
           Param("since", "from this ISO time on"), Param("until", "before this ISO time"))


def register(api: Registry) -> None:
    @api.route("GET", "/v1/audit/events", scope="reports", paginated=True, content=("text/plain",),
               query=(*FILTERS, Param("wait", "long poll: wait up to this many seconds "
                                      f"(0-{auditfeed.MAX_WAIT_S}) for an event past the "
                                      "cursor", "integer"),
                      Param("format", "json (default) or cef (ArcSight CEF lines; the "
                            "next cursor in the X-Next-Cursor header)")),
               summary="Audit events after a cursor, each once per cursor (per chain in "
                       "order; a tenant token sees its tenant's); a SIEM feed")
    def events(call: Call) -> Any:
        limit = call.int_arg("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, "bad_parameter", f"limit must be 1 to {MAX_LIMIT}")
        wait = call.int_arg("wait", 0) or 0
        if not 0 <= wait <= auditfeed.MAX_WAIT_S:
            raise ApiError(400, "bad_parameter", f"wait must be 0 to {auditfeed.MAX_WAIT_S}")
        fmt = call.arg("format", "json")
        if fmt not in ("json", "cef"):
            raise ApiError(400, "bad_parameter", f"format={fmt!r}: choose json or cef")
        cursor = auditfeed.decode(call.arg("cursor"))
        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        where = []
        for column, value in (("tenant", tenant), ("user", call.arg("user")),
                              ("action", call.arg("action")), ("result", call.arg("result"))):
            if value is not None:
                where.append(audit_events.c[column] == value)
        since, until = when("since", call.arg("since")), when("until", call.arg("until"))
        if since is not None:
            where.append(audit_events.c.ts >= since)
        if until is not None:
            where.append(audit_events.c.ts < until)
        rows, cursor, more = auditfeed.poll(call.core.catalog, cursor, where, limit, wait,
                                            flush=call.core.audit.flush)
        position = auditfeed.encode(cursor)
        if fmt == "cef":
            from gateway.auditv2.cef import cef_line

            return Reply("".join(cef_line(r, c) for c, r in rows).encode("utf-8"),
                         content_type="text/plain; charset=utf-8",
                         headers={"X-Next-Cursor": position,
                                  "X-More": "true" if more else "false"})
        return {"items": [auditfeed.item(c, r) for c, r in rows],
                "next_cursor": position if more else None, "cursor": position}

    @api.route("GET", "/v1/audit/verify", scope="reports",
               query=(Param("tenant", "only this tenant's chain"),),
               summary="Verify the audit chains against the signed checkpoint")
    def verify(call: Call) -> dict[str, Any]:
        from gateway.auditv2.verify_all import verify_all

        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        return verify_all(call.core, tenant)
