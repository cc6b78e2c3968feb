"""Retention rules and runs, the trash, legal holds (``retention``, ``trash``, ``hold``;
gateway/compliance/retention audits every change with the token as the actor)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gateway.admin_api.calls import ApiError, Call, not_found, page
from gateway.admin_api.routes import BOOL, INT, STR, Param, Registry, obj

T = "/v1/tenants/{tenant}"
PATH = Param("path", "a folder (default: the whole tenant)")
AFTER = {"type": "string", "enum": ["upload", "change"]}


def register(api: Registry) -> None:
    @api.route("GET", f"{T}/retention", scope="read", paginated=True,
               summary="A tenant's retention rules, by folder")
    def show_rules(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention import rules

        return page(call, [r.as_dict() for r in rules.show_rules(call.core, call.tenant())])

    @api.route("PUT", f"{T}/retention", scope="tenants",
               body=obj(path=STR, files_days=INT, after=AFTER, audit_days=INT),
               summary="Set the rule of the tenant or a folder (files_days, audit_days)")
    def set_rule(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention import rules

        return rules.set_rule(call.core, call.tenant(), call.field("path", str, "/"),
                              files_days=call.field("files_days", int),
                              after=call.field("after", str, "upload"),
                              audit_days=call.field("audit_days", int)).as_dict()

    @api.route("DELETE", f"{T}/retention", scope="tenants", query=(PATH,),
               summary="Remove the rule of the tenant or a folder")
    def clear_rule(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention import rules

        path = call.arg("path", "/")
        rules.clear_rule(call.core, call.tenant(), path)
        return {"cleared": path}

    @api.route("POST", f"{T}/retention/run", scope="tenants", body=obj(dry_run=BOOL),
               summary="Delete what is due now (dry_run: count it, change nothing)")
    def run(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention.run import run_retention

        return run_retention(call.core, tenant=call.tenant(),
                             dry_run=call.field("dry_run", bool, False)).as_dict()

    @api.route("GET", f"{T}/trash", scope="read", paginated=True,
               summary="What the tenant's trash holds")
    def trash_list(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention import trash

        return page(call, trash.list_items(call.core, call.tenant()))

    @api.route("POST", f"{T}/trash/{{item}}/restore", scope="tenants",
               summary="Put a trashed item back where it was (409 if something is there)")
    def trash_restore(call: Call) -> Any:
        from gateway.compliance.retention import trash

        return trash.restore(call.core, call.tenant(), _item(call))

    @api.route("POST", f"{T}/trash/purge", scope="tenants",
               body=obj(items={"type": "array", "items": INT}, all=BOOL),
               summary="Delete trashed items for good (items: ids, or all: true)")
    def trash_purge(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention import trash

        items = call.field("items", list)
        if bool(items) == bool(call.field("all", bool, False)):
            raise ApiError(422, "missing_field", "name the items to purge (ids from GET "
                           ".../trash) or send \"all\": true")
        if items and not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
            raise ApiError(422, "invalid_field", "'items' must be item ids (integers)")
        return asdict(trash.purge(call.core, call.tenant(), items or None))

    @api.route("GET", f"{T}/holds", scope="read", paginated=True,
               summary="Active legal holds of a tenant")
    def holds_list(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention import holds

        return page(call, holds.list_holds(call.core, call.tenant()))

    @api.route("POST", f"{T}/holds", scope="tenants", status=201,
               body=obj(("reason",), path=STR, reason=STR),
               summary="Hold the tenant or a folder: nothing under it is deleted")
    def hold_set(call: Call) -> Any:
        from gateway.compliance.retention import holds

        return holds.set_hold(call.core, call.tenant(), call.field("path", str, "/"),
                              call.field("reason", str, required=True))

    @api.route("DELETE", f"{T}/holds/{{hold}}", scope="tenants",
               summary="Release a legal hold")
    def hold_release(call: Call) -> dict[str, Any]:
        from gateway.compliance.retention import holds

        holds.release_hold(call.core, call.tenant(), call.params["hold"])
        return {"released": call.params["hold"]}


def _item(call: Call) -> int:
    try:
        return int(call.params["item"])
    except ValueError:
        raise not_found("trash item") from None
