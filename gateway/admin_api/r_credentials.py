"""Users' SSH public keys and app passwords, through ``gateway.credentials_admin`` like the
CLI's ``key`` and ``app-password`` commands (the same audit events, the token as actor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway import admin, credentials_admin
from gateway.admin_api.calls import ApiError, Call, not_found, when
from gateway.admin_api.routes import BOOL, STR, STRS, Registry, Reply, obj

USER = "/v1/tenants/{tenant}/users/{user}"
EXPIRES = {"type": "string", "description": "ISO date/time or a duration such as 90d"}


def _login(call: Call) -> tuple[str, str]:
    """(tenant, canonical user name) of the path, checked against the token."""
    tenant = call.tenant()
    return tenant, admin.get_user(call.core, tenant, call.params["user"]).name


def _expires(call: Call) -> datetime | None:
    return when("expires", call.field("expires", str))


def register(api: Registry) -> None:
    @api.route("GET", f"{USER}/ssh-keys", scope="read", summary="A user's SSH public keys")
    def list_keys(call: Call) -> dict[str, Any]:
        from gateway.policy import sshkeys

        return {"items": sshkeys.list_keys(call.core, *_login(call)), "next_cursor": None}

    @api.route("POST", f"{USER}/ssh-keys", scope="users", status=201,
               body=obj(("key",), key=STR, networks=STRS, expires=EXPIRES, comment=STR),
               summary="Add an SSH public key (an OpenSSH key line) to a user")
    def add_key(call: Call) -> Any:
        tenant, user = _login(call)
        return credentials_admin.add_ssh_key(
            call.core, tenant, user, call.field("key", str, required=True),
            networks=call.field("networks", list), expires_at=_expires(call),
            comment=call.field("comment", str))

    @api.route("DELETE", f"{USER}/ssh-keys/{{key_id}}", scope="users",
               summary="Remove one of a user's SSH keys (by its id from the listing)")
    def remove_key(call: Call) -> dict[str, Any]:
        from gateway.policy import sshkeys

        tenant, user = _login(call)
        found = [k for k in sshkeys.list_keys(call.core, tenant, user)
                 if k.id == call.params["key_id"]]
        if not found:
            raise not_found(f"SSH key {call.params['key_id']!r} of {user}@{tenant}")
        credentials_admin.remove_ssh_key(call.core, tenant, user, found[0].fingerprint)
        return {"removed": found[0].id, "fingerprint": found[0].fingerprint}

    @api.route("GET", f"{USER}/app-passwords", scope="read",
               summary="A user's app passwords (never the secrets)")
    def list_app_passwords(call: Call) -> dict[str, Any]:
        from gateway.policy import apppasswords

        return {"items": apppasswords.list_for(call.core, *_login(call)), "next_cursor": None}

    @api.route("POST", f"{USER}/app-passwords", scope="users", status=201,
               body=obj(("label",), label=STR, read_only=BOOL, prefix=STR, networks=STRS,
                        expires=EXPIRES, code=STR),
               summary="Create an app password (secret shown once); a user with TOTP needs "
               "a current `code`")
    def create_app_password(call: Call) -> Reply:
        tenant, user = _login(call)
        try:
            ap, secret = credentials_admin.create_app_password(
                call.core, tenant, user, call.field("label", str, required=True),
                code=call.field("code", str), read_only=call.field("read_only", bool, False),
                prefix=call.field("prefix", str, "/"), networks=call.field("networks", list),
                expires_at=_expires(call))
        except credentials_admin.SecondFactorNeeded:
            raise ApiError(422, "totp_code_required", "this user has TOTP: send a current "
                           "code as 'code'") from None
        return Reply({"app_password": ap, "secret": secret}, 201)

    @api.route("DELETE", f"{USER}/app-passwords/{{ident}}", scope="users",
               summary="Revoke an app password (by id, id prefix or label)")
    def revoke_app_password(call: Call) -> dict[str, Any]:
        tenant, user = _login(call)
        credentials_admin.revoke_app_password(call.core, tenant, user, call.params["ident"])
        return {"revoked": call.params["ident"]}
