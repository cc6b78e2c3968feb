"""The audit trail: query events (paginated, newest last) and verify the chains."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.admin_api.calls import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ApiError,
    Call,
    decode_cursor,
    encode_cursor,
    when,
)
from gateway.admin_api.routes import Param, Registry
from gateway.audit import EXPORT_COLUMNS
from gateway.catalog.tables import audit_events

FILTERS = (Param("tenant", "only this tenant's events"), Param("user", "only this user's"),
           Param("action", "only this action, e.g. user-create"),
           Param("result", "ok, denied, miss or error"),
           Param("since", "from this ISO time on"), Param("until", "before this ISO time"))


def register(api: Registry) -> None:
    @api.route("GET", "/v1/audit/events", scope="reports", paginated=True, query=FILTERS,
               summary="Audit events in storage order (a tenant token sees its tenant's)")
    def events(call: Call) -> dict[str, Any]:
        limit = call.int_arg("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, "bad_parameter", f"limit must be 1 to {MAX_LIMIT}")
        after = decode_cursor(call.arg("cursor"), "id") if call.arg("cursor") else 0
        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        q = select(audit_events).where(audit_events.c.id > after)
        for column, value in (("tenant", tenant), ("user", call.arg("user")),
                              ("action", call.arg("action")), ("result", call.arg("result"))):
            if value is not None:
                q = q.where(audit_events.c[column] == value)
        since, until = when("since", call.arg("since")), when("until", call.arg("until"))
        if since is not None:
            q = q.where(audit_events.c.ts >= since)
        if until is not None:
            q = q.where(audit_events.c.ts < until)
        with call.core.catalog.read() as conn:
            rows = list(conn.execute(q.order_by(audit_events.c.id).limit(limit + 1)).mappings())
        more = len(rows) > limit
        rows = rows[:limit]
        return {"items": [{k: r[k] for k in EXPORT_COLUMNS} for r in rows],
                "next_cursor": encode_cursor("id", rows[-1]["id"]) if more else None}

    @api.route("GET", "/v1/audit/verify", scope="reports",
               query=(Param("tenant", "only this tenant's chain"),),
               summary="Verify the audit chains against the signed checkpoint")
    def verify(call: Call) -> dict[str, Any]:
        from gateway.auditv2.verify_all import verify_all

        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        return verify_all(call.core, tenant)
