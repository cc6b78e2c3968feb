"""WebDAV locks: list them and release one (audited as ``lock-break`` by the token)."""

from __future__ import annotations

from typing import Any

from gateway import locks_admin
from gateway.admin_api.calls import Call, not_found, page
from gateway.admin_api.routes import Param, Registry


def register(api: Registry) -> None:
    @api.route("GET", "/v1/locks", scope="read", paginated=True,
               query=(Param("tenant", "only this tenant's locks"),),
               summary="Unexpired locks, by tenant and path")
    def list_locks(call: Call) -> dict[str, Any]:
        tenant = call.allowed_tenant_filter(call.arg("tenant"))
        return page(call, locks_admin.list_locks(call.core, tenant))

    @api.route("DELETE", "/v1/locks/{token}", scope="tenants",
               summary="Release (break) one lock by its token")
    def release(call: Call) -> Any:
        token = call.params["token"]
        own = call.token.tenant
        if own is not None and not any(
                lk.token == token for lk in locks_admin.list_locks(call.core, own)):
            raise not_found("lock")
        lk = locks_admin.break_lock(call.core, token)
        call.tenant_name = lk.tenant
        return lk
