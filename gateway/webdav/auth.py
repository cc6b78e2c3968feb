"""Domain controller: HTTP Basic credentials -> ``Gate.authenticate_basic`` -> ``Session``.

The gateway decides; this class only relays. A refusal because the tenant does not allow
WebDAV (the Gate's ``rule == "protocol"``) is answered 403; any other refusal is a 401
whose realm carries the Gate's client-safe hint when it gives one (the Gate audits every
login, accepted or not, with the precise reason).
"""

from __future__ import annotations

from typing import Any

from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError
from wsgidav.dc.base_dc import BaseDomainController

from gateway.core import Core
from gateway.errors import AuthenticationFailed
from gateway.policy.gate import Attempt, Gate
from gateway.webdav import context

REALM = "Lumanox Gateway"


def is_protocol_refusal(exc: AuthenticationFailed) -> bool:
    """Whether the Gate refused because WebDAV is not allowed for the tenant (or user)."""
    return getattr(exc, "rule", "") in ("protocol", "user-protocol")


HINT_KEY = "lumanox.auth_hint"


class GatewayDomainController(BaseDomainController):
    """Configured through ``config["lumanox"]``: the process's Core and Gate."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        opts = config["lumanox"]
        self.core: Core = opts["core"]
        self.gate: Gate = opts["gate"]

    def __str__(self) -> str:
        return "GatewayDomainController"

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        """The realm; on a 401 after a refusal with a client-safe hint (e.g. a 2FA user
        who sent the account password), the hint, so the login dialog says what to do."""
        hint = environ.get(HINT_KEY) if environ else None
        return f"{REALM}: {hint}" if hint else REALM

    def require_authentication(self, realm: str, environ: dict[str, Any]) -> bool:
        return True

    def supports_http_digest_auth(self) -> bool:
        return False

    def basic_auth_user(self, realm: str, user_name: str, password: str,
                        environ: dict[str, Any]) -> bool:
        addr = environ.get("REMOTE_ADDR", "")
        attempt = Attempt("webdav", user_name, addr, environ.get("HTTP_USER_AGENT", "")[:200])
        try:
            principal = self.gate.authenticate_basic(attempt, password)
        except AuthenticationFailed as exc:
            if is_protocol_refusal(exc):
                raise DAVError(HTTP_FORBIDDEN, context_info="WebDAV is not enabled") from None
            hint = getattr(exc, "hint_text", "")
            if hint:
                environ[HINT_KEY] = hint.replace('"', "'")
            return False
        # wsgidav checks the locks against the client's tokens (and the PUT commit again)
        environ[context.SESSION_KEY] = self.core.session(principal, "webdav", addr,
                                                         checks_dav_locks=True)
        context.set_tenant(principal.tenant_id)
        return True
