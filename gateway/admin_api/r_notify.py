"""Notifications (``webhook``, ``event rule``, ``event list``; gateway/notify): webhook
endpoints (the secret is answered once, at creation), event rules, the delivery outbox.
Every change is audited by the service functions with the token as the actor."""

from __future__ import annotations

from typing import Any

from gateway.admin_api.calls import MAX_LIMIT, ApiError, Call, not_found, page
from gateway.admin_api.routes import STR, STRS, Param, Registry, obj

T = "/v1/tenants/{tenant}"
WEBHOOK = obj(("url",), url=STR, events=STRS)


def _added(new: Any) -> dict[str, Any]:
    return {**vars(new.endpoint), "secret": new.secret}


def register(api: Registry) -> None:
    @api.route("GET", "/v1/webhooks", scope="read", paginated=True,
               query=(Param("tenant", "only this tenant's"),),
               summary="Webhook endpoints (never their secrets)")
    def list_webhooks(call: Call) -> dict[str, Any]:
        from gateway.notify import webhooks

        return page(call, webhooks.list_endpoints(
            call.core, call.allowed_tenant_filter(call.arg("tenant"))))

    @api.route("POST", f"{T}/webhooks", scope="tenants", status=201, body=WEBHOOK,
               summary="Add a tenant's endpoint; its secret is in this answer only")
    def add_webhook(call: Call) -> dict[str, Any]:
        from gateway.notify import webhooks

        return _added(webhooks.add_endpoint(call.core, call.tenant(),
                                            call.field("url", str, required=True),
                                            call.field("events", list)))

    @api.route("POST", "/v1/webhooks", scope="tenants", status=201, body=WEBHOOK,
               global_only=True, summary="Add an operator endpoint (of no tenant: alerts)")
    def add_operator_webhook(call: Call) -> dict[str, Any]:
        from gateway.notify import webhooks

        return _added(webhooks.add_endpoint(call.core, None,
                                            call.field("url", str, required=True),
                                            call.field("events", list)))

    @api.route("DELETE", "/v1/webhooks/{webhook}", scope="tenants",
               summary="Remove an endpoint and its event rules")
    def remove_webhook(call: Call) -> dict[str, Any]:
        from gateway.notify import webhooks

        wid = call.params["webhook"]
        own = call.token.tenant
        if own is not None and not any(
                e.id == wid for e in webhooks.list_endpoints(call.core, own)):
            raise not_found("webhook")
        ep = webhooks.remove_endpoint(call.core, wid)
        call.tenant_name = ep.tenant
        return {"removed": ep.id}

    @api.route("GET", "/v1/event-rules", scope="read", paginated=True,
               query=(Param("tenant", "only this tenant's"),),
               summary="Event notification rules")
    def list_rules(call: Call) -> dict[str, Any]:
        from gateway.notify import events

        return page(call, events.list_rules(
            call.core, call.allowed_tenant_filter(call.arg("tenant"))))

    @api.route("POST", f"{T}/event-rules", scope="tenants", status=201,
               body=obj(("webhook",), path=STR, on=STRS, webhook=STR),
               summary="Notify a webhook of uploads/downloads/deletes in a folder")
    def add_rule(call: Call) -> Any:
        from gateway.notify import events

        return events.add_rule(call.core, call.tenant(), call.field("path", str, "/"),
                               call.field("on", list, ["upload"]),
                               call.field("webhook", str, required=True))

    @api.route("DELETE", "/v1/event-rules/{rule}", scope="tenants",
               summary="Remove an event rule")
    def remove_rule(call: Call) -> dict[str, Any]:
        from gateway.notify import events

        rid = call.params["rule"]
        own = call.token.tenant
        if own is not None and not any(r.id == rid for r in events.list_rules(call.core, own)):
            raise not_found("event rule")
        rule = events.remove_rule(call.core, rid)
        call.tenant_name = rule.tenant
        return {"removed": rule.id}

    @api.route("GET", "/v1/deliveries", scope="read",
               query=(Param("tenant", "only this tenant's"),
                      Param("state", "pending, delivered or dead"),
                      Param("limit", "newest N (1-500, default 100)", "integer")),
               summary="Queued, delivered and dead webhook deliveries, newest first")
    def deliveries(call: Call) -> dict[str, Any]:
        from gateway.notify import outbox, registry

        limit = call.int_arg("limit", 100) or 100
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, "bad_parameter", f"limit must be 1 to {MAX_LIMIT}")
        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        tid = None
        if tenant is not None:
            with call.core.catalog.read() as conn:
                tid = registry.tenant_id(conn, tenant)[0]
        return {"items": outbox.list_entries(call.core.catalog, tenant_id=tid,
                                             state=call.arg("state"), limit=limit),
                "next_cursor": None}
