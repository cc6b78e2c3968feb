"""Alerts (``alert list``, ``alert rule list|set``; gateway/alerts): the alerts fired and
the rules with a tenant's overrides (``rule set`` audited ``alert-rule-set``)."""

from __future__ import annotations

from typing import Any

from gateway.admin_api.calls import MAX_LIMIT, ApiError, Call
from gateway.admin_api.routes import BOOL, Param, Registry, obj

VALUES = {"type": "object", "additionalProperties": {"type": "string"},
          "description": 'parameters as text, e.g. {"threshold": "5", "enabled": "false"}'}


def register(api: Registry) -> None:
    @api.route("GET", "/v1/alerts", scope="read",
               query=(Param("tenant", "only this tenant's alerts"),
                      Param("limit", "at most this many, newest first (1-500, default 100)",
                            "integer")),
               summary="Fired alerts, newest first, with their delivery state")
    def fired(call: Call) -> dict[str, Any]:
        from gateway.alerts import ops

        limit = call.int_arg("limit", 100) or 100
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, "bad_parameter", f"limit must be 1 to {MAX_LIMIT}")
        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        return {"items": [a.payload() | {"delivery": a.delivery, "repeats": a.repeats}
                          for a in ops.list_alerts(call.core, tenant, limit)],
                "next_cursor": None}

    @api.route("GET", "/v1/alert-rules", scope="read",
               query=(Param("tenant", "as the rules apply to this tenant (default: the "
                               "[alerts] defaults)"),),
               summary="Each alert rule's parameters (and which a tenant overrides)")
    def rules(call: Call) -> dict[str, Any]:
        from gateway.alerts import ops

        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        return {"items": ops.list_rules(call.core, tenant), "next_cursor": None}

    @api.route("PUT", "/v1/tenants/{tenant}/alert-rules/{rule}", scope="tenants",
               body=obj(values=VALUES, reset=BOOL),
               summary="Override a rule's parameters for a tenant (reset: back to defaults "
                       "first)")
    def set_rule(call: Call) -> dict[str, Any]:
        from gateway.alerts import ops

        values = call.field("values", dict, {})
        if not all(isinstance(v, str | int | float | bool) for v in values.values()):
            raise ApiError(422, "invalid_field", "'values' maps parameter names to values, "
                           'e.g. {"threshold": "5"}')
        text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()}
        return ops.set_rule(call.core, call.tenant(), call.params["rule"], text,
                            call.field("reset", bool, False))
