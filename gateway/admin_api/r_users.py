"""Users of a tenant: list, create, show, update, delete, disable/enable, password, quota."""

from __future__ import annotations

import secrets
from typing import Any

from gateway import admin
from gateway.admin_api.calls import ApiError, Call, page
from gateway.admin_api.r_tenants import SIZE, size
from gateway.admin_api.routes import BOOL, INT, STR, Registry, obj

USER = "/v1/tenants/{tenant}/users/{user}"
KIND = {"type": "string", "enum": ["human", "machine"]}
PERMISSIONS = {"type": "string",
               "description": 'JSON rules, e.g. [{"prefix": "/", "perms": ["read"]}]'}


def _user(call: Call) -> admin.User:
    return admin.get_user(call.core, call.tenant(), call.params["user"])


def _password(call: Call) -> tuple[str | None, str | None]:
    """(password to set, generated password to show once) from the body."""
    from gateway.policy.passwords import check_strength

    if call.field("generate_password", bool, False):
        generated = secrets.token_urlsafe(12)
        return generated, generated
    password = call.field("password", str)
    if password is not None:
        try:
            check_strength(password)
        except ValueError as exc:
            raise ApiError(422, "weak_password", f"{exc}; nothing changed") from None
    return password, None


def register(api: Registry) -> None:
    @api.route("GET", "/v1/tenants/{tenant}/users", scope="read", paginated=True,
               summary="A tenant's users, by name")
    def list_users(call: Call) -> dict[str, Any]:
        return page(call, sorted(admin.list_users(call.core, call.tenant()),
                                 key=lambda u: u.name))

    @api.route("POST", "/v1/tenants/{tenant}/users", scope="users", status=201,
               body=obj(("name",), name=STR, kind=KIND, permissions=PERMISSIONS,
                        quota_bytes=SIZE, quota_files=INT, password=STR,
                        generate_password=BOOL),
               summary="Create a user (password optional; a generated one is shown once)")
    def create_user(call: Call) -> dict[str, Any]:
        tenant = call.tenant()
        password, generated = _password(call)
        u = admin.create_user(call.core, tenant, call.field("name", str, required=True),
                              password=password, kind=call.field("kind", str, "human"),
                              permissions=call.field("permissions", str),
                              quota_bytes=size(call, "quota_bytes"),
                              quota_files=call.field("quota_files", int))
        return {"user": u, "password": generated}

    @api.route("GET", USER, scope="read", summary="One user: usage, password set, permissions")
    def show_user(call: Call) -> admin.User:
        return _user(call)

    @api.route("PATCH", USER, scope="users",
               body=obj(kind=KIND, permissions=PERMISSIONS, quota_bytes=SIZE,
                        quota_files=INT),
               summary="Change a user's kind, permissions or quotas")
    def update_user(call: Call) -> admin.User:
        u = _user(call)
        return admin.set_user(call.core, call.tenant(), u.name,
                              kind=call.field("kind", str),
                              permissions=call.field("permissions", str),
                              quota_bytes=size(call, "quota_bytes"),
                              quota_files=call.field("quota_files", int))

    @api.route("DELETE", USER, scope="users",
               summary="Delete a user (their files stay with the tenant)")
    def delete_user(call: Call) -> dict[str, Any]:
        u = _user(call)
        admin.delete_user(call.core, call.tenant(), u.name)
        return {"user": u.name, "deleted": True}

    for action in ("disable", "enable"):
        def set_state(call: Call, _action: str = action) -> admin.User:
            u = _user(call)
            return admin.set_user(call.core, call.tenant(), u.name,
                                  disabled=_action == "disable")

        api.route("POST", f"{USER}/{action}", scope="users",
                  summary=("Refuse every login of a user" if action == "disable"
                           else "Allow a disabled user again"))(set_state)

    @api.route("PUT", f"{USER}/password", scope="users",
               body=obj(password=STR, generate_password=BOOL),
               summary="Set a user's password, or generate one (shown once)")
    def set_password(call: Call) -> dict[str, Any]:
        u = _user(call)
        password, generated = _password(call)
        if password is None:
            raise ApiError(422, "missing_field", "give 'password' or "
                           "'generate_password': true")
        admin.set_user(call.core, call.tenant(), u.name, password=password)
        return {"user": u.name, "password": generated}

    @api.route("PUT", f"{USER}/quota", scope="users",
               body=obj(quota_bytes=SIZE, quota_files=INT),
               summary="Set a user's byte and file quotas (-1 removes one)")
    def set_quota(call: Call) -> dict[str, Any]:
        u = _user(call)
        u = admin.set_user(call.core, call.tenant(), u.name,
                           quota_bytes=size(call, "quota_bytes"),
                           quota_files=call.field("quota_files", int))
        return {"user": u.name, "used_bytes": u.used_bytes, "quota_bytes": u.quota_bytes,
                "used_files": u.used_files, "quota_files": u.quota_files}
