"""Tenants: list, create, show (with policy), update, purge, and quota usage."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from gateway import admin
from gateway.admin_api.calls import ApiError, Call, page
from gateway.admin_api.routes import BOOL, INT, STR, STRS, Param, Registry, Reply, obj
from gateway.textout import parse_size

SIZE = {"oneOf": [{"type": "integer"}, {"type": "string"}],
        "description": "bytes, or a size such as 50G; -1 or 'none' removes the limit"}
TENANT_FIELDS = dict(display_name=STR, protocols=STRS, case_sensitive=BOOL, quota_bytes=SIZE,
                     quota_files=INT)


def size(call: Call, name: str) -> int | None:
    value = call.field(name, (int, str))
    if isinstance(value, str):
        try:
            return parse_size(value)
        except Exception as exc:
            raise ApiError(422, "invalid_field", f"{name!r}: {exc}") from None
    return value


def _case(call: Call) -> bool | None:
    sensitive = call.field("case_sensitive", bool)
    return None if sensitive is None else not sensitive


def register(api: Registry) -> None:
    @api.route("GET", "/v1/tenants", scope="read", paginated=True,
               summary="Tenants with usage and state (a tenant token sees its own)")
    def list_tenants(call: Call) -> dict[str, Any]:
        own = call.allowed_tenant_filter(None)
        ts = [t for t in admin.list_tenants(call.core) if own is None or t.name == own]
        return page(call, ts)

    @api.route("POST", "/v1/tenants", scope="tenants", global_only=True, status=201,
               body=obj(("name",), name=STR, **TENANT_FIELDS),
               summary="Create a tenant (its keys and root folder)")
    def create_tenant(call: Call) -> Any:
        name = call.field("name", str, required=True)
        call.tenant_name = name
        case = _case(call)
        return admin.create_tenant(
            call.core, name, display_name=call.field("display_name", str, ""),
            protocols=call.field("protocols", list), case_insensitive=True if case is None
            else case, quota_bytes=size(call, "quota_bytes"),
            quota_files=call.field("quota_files", int))

    @api.route("GET", "/v1/tenants/{tenant}", scope="read",
               summary="One tenant: usage against quota and its policy")
    def show_tenant(call: Call) -> dict[str, Any]:
        from gateway.policy import manage

        t = admin.get_tenant(call.core, call.tenant())
        return {**asdict(t), "policy": manage.show(call.core, t.name)}

    @api.route("PATCH", "/v1/tenants/{tenant}", scope="tenants",
               body=obj(disabled=BOOL, **TENANT_FIELDS),
               summary="Change a tenant's protocols, quotas, names or state")
    def update_tenant(call: Call) -> Any:
        return admin.set_tenant(
            call.core, call.tenant(), display_name=call.field("display_name", str),
            protocols=call.field("protocols", list), case_insensitive=_case(call),
            quota_bytes=size(call, "quota_bytes"), quota_files=call.field("quota_files", int),
            disabled=call.field("disabled", bool))

    @api.route("DELETE", "/v1/tenants/{tenant}", scope="tenants", global_only=True,
               query=(Param("confirm", "must be 'purge': keys and files are destroyed",
                            required=True),),
               summary="Crypto-shred and delete a tenant (needs ?confirm=purge)")
    def purge_tenant(call: Call) -> dict[str, Any]:
        name = call.tenant()
        if call.arg("confirm") != "purge":
            raise ApiError(422, "confirmation_required", "purging destroys the tenant's keys "
                           "and every file for good: repeat with ?confirm=purge")
        admin.get_tenant(call.core, name)
        return {"tenant": name, "blobs_deleted": admin.purge_tenant(call.core, name)}

    @api.route("GET", "/v1/tenants/{tenant}/quota", scope="read",
               summary="Usage against quota of a tenant and of each of its users")
    def quota(call: Call) -> dict[str, Any]:
        t = admin.get_tenant(call.core, call.tenant())
        return {"tenant": _usage(t), "users": [
            {"user": u.name, **_usage(u)} for u in admin.list_users(call.core, t.name)]}

    @api.route("PUT", "/v1/tenants/{tenant}/quota", scope="tenants",
               body=obj(quota_bytes=SIZE, quota_files=INT),
               summary="Set a tenant's byte and file quotas (-1 removes one)")
    def set_quota(call: Call) -> Reply:
        t = admin.set_tenant(call.core, call.tenant(), quota_bytes=size(call, "quota_bytes"),
                             quota_files=call.field("quota_files", int))
        return Reply(_usage(t))


def _usage(x: Any) -> dict[str, Any]:
    return {"used_bytes": x.used_bytes, "quota_bytes": x.quota_bytes,
            "used_files": x.used_files, "quota_files": x.quota_files}
