"""Domain controller: HTTP Basic credentials -> ``Gate.authenticate_basic`` -> ``Session``.

The gateway decides; this class only relays. A refusal because the tenant does not allow
WebDAV (the Gate's ``rule == "protocol"``, decided before any credential) is answered 403;
any other refusal is the same 401 with the same realm, whether or not the password was
right (a 2FA user's right password, a user without WebDAV: #9.14). The Gate audits every
login, accepted or not, with the precise reason.
"""

from __future__ import annotations

from typing import Any

from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError
from wsgidav.dc.base_dc import BaseDomainController

from gateway.access import Access
from gateway.errors import AuthenticationFailed
from gateway.policy.gate import Attempt
from gateway.webdav import context

REALM = "Lumanox Gateway"


def is_protocol_refusal(exc: AuthenticationFailed) -> bool:
    """Whether the Gate refused because the TENANT does not allow WebDAV (known before any
    credential; a user-level refusal is a 401 like a wrong password)."""
    return getattr(exc, "rule", "") == "protocol"


class GatewayDomainController(BaseDomainController):
    """Configured through ``config["lumanox"]["access"]``: the process's ``Access``."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, config)
        self.access: Access = config["lumanox"]["access"]

    def __str__(self) -> str:
        return "GatewayDomainController"

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        """One realm for every answer: it must not depend on the account or the password."""
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, Any]) -> bool:
        return True

    def supports_http_digest_auth(self) -> bool:
        return False

    def basic_auth_user(self, realm: str, user_name: str, password: str,
                        environ: dict[str, Any]) -> bool:
        addr = environ.get("REMOTE_ADDR", "")
        attempt = Attempt("webdav", user_name, addr, environ.get("HTTP_USER_AGENT", "")[:200])
        try:
            principal = self.access.gate.authenticate_basic(attempt, password)
        except AuthenticationFailed as exc:
            if is_protocol_refusal(exc):
                raise DAVError(HTTP_FORBIDDEN, context_info="WebDAV is not enabled") from None
            return False
        environ[context.SESSION_KEY] = self.access.session(principal, "webdav", addr)
        if context.COUNTED_KEY not in environ:  # ended when the response is closed (app.py)
            environ[context.COUNTED_KEY] = principal
            self.access.session_began(principal, "webdav")
        return True
