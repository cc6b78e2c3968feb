"""A tenant's connection policy, and ``explain``: the decision for an attempted login."""

from __future__ import annotations

from typing import Any

from gateway.admin_api.calls import Call
from gateway.admin_api.routes import STR, Registry, obj

PROTOCOL = {"type": "string", "enum": ["webdav", "sftp", "scp"]}
METHOD = {"type": "string",
          "enum": ["password", "publickey", "keyboard-interactive", "app-password"]}


def register(api: Registry) -> None:
    @api.route("GET", "/v1/tenants/{tenant}/policy", scope="read", summary="A tenant's policy")
    def show(call: Call) -> dict[str, Any]:
        from gateway.policy import manage

        return manage.show(call.core, call.tenant())

    @api.route("POST", "/v1/tenants/{tenant}/policy/explain", scope="read",
               body=obj(("user", "protocol", "source"), user=STR, protocol=PROTOCOL,
                        source=STR, method=METHOD),
               summary="The decision (and its rules) for a login of a user from an address; "
               "stores nothing")
    def explain(call: Call) -> dict[str, Any]:
        from gateway.policy import manage

        tenant = call.tenant()
        login = f"{call.field('user', str, required=True)}@{tenant}"
        res = manage.explain(call.core, login, call.field("protocol", str, required=True),
                             call.field("source", str, required=True),
                             call.field("method", str))
        return {"steps": [{"step": label, "verdict": d.verdict.value, "reason": d.reason,
                           "next_methods": list(d.next_methods),
                           "rules": [r.__dict__ for r in d.rules]} for label, d in res],
                "text": manage.explain_text(res)}
