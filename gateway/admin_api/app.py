"""The Falcon (WSGI) app, built from the route registry.

Every call goes through ``Dispatcher.handle``: bearer token (one 401 for every kind of bad
token), scope, body size and JSON, the handler run as the token's principal
(``gateway.actor.acting_as``: the service functions' own audit events name
``token:<name>`` over protocol ``api``), errors mapped to JSON, and one ``api-call`` audit
event per request (method, route and status; refusals too).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import falcon
from sqlalchemy import select

from gateway import actor
from gateway.admin_api import tokens
from gateway.admin_api.calls import ApiError, Call, from_gateway_error
from gateway.admin_api.routes import Registry, Reply, Route, build_registry
from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.catalog.tables import tenants
from gateway.core import Core
from gateway.outcomes import DENIED, ERROR, MISS
from gateway.textout import to_jsonable

log = logging.getLogger("gateway.admin_api")
UNAUTHORIZED = ApiError(401, "unauthorized", "a valid admin token is required: send "
                        "`Authorization: Bearer <token>` (`lumanox-gateway admin-token create`)")


def _scope_allows(granted: str, needed: str) -> bool:
    return granted == "all" or needed == "read" or granted == needed


class Dispatcher:
    """Runs the registered handlers for Falcon."""

    def __init__(self, core: Core, registry: Registry, max_body_bytes: int) -> None:
        self.core, self.registry, self.max_body = core, registry, max_body_bytes
        self.key = tokens.derive_key(core)

    def responder(self, route: Route):  # type: ignore[no-untyped-def]
        def on_request(_resource: object, req: falcon.Request, resp: falcon.Response,
                       **params: str) -> None:
            self.handle(route, req, resp, params)
        return on_request

    def handle(self, route: Route, req: falcon.Request, resp: falcon.Response,
               params: dict[str, str]) -> None:
        token: tokens.Token | None = None
        call: Call | None = None
        status = 500
        try:
            if route.scope != "public" and not self._open_to(route, req):
                token = self._authenticate(req)
            call = Call(self.core, token, params, dict(req.params), {},  # type: ignore[arg-type]
                        req.remote_addr or "")
            if token is not None:
                self._authorise(route, token)
            call.body = self._body(req) if route.body is not None else {}
            if token is not None:
                with actor.acting_as(token.principal, "api", call.remote_addr):
                    reply = self._run(route, call)
            else:
                reply = self._run(route, call)
            status = self._send(resp, reply, route.status)
        except ApiError as exc:
            status = self._send(resp, Reply(exc.body(), exc.status), exc.status)
            if exc.status == 401:
                resp.set_header("WWW-Authenticate", 'Bearer realm="lumanox-admin"')
        finally:
            if route.audited:
                self._audit(route, req, token, call, status)

    def _run(self, route: Route, call: Call) -> Any:
        try:
            return route.handler(call)
        except ApiError:
            raise
        except Exception as exc:
            err = from_gateway_error(exc)
            if err.status == 500:
                log.exception("admin API %s %s failed", route.method, route.path)
            raise err from None

    def _open_to(self, route: Route, req: falcon.Request) -> bool:
        """A loopback client without a token, on a route its configuration opens to it."""
        if route.loopback_open is None or req.get_header("Authorization"):
            return False
        try:
            loopback = ipaddress.ip_address(req.remote_addr or "").is_loopback
        except ValueError:
            return False
        return loopback and route.loopback_open(self.core.config)

    def _authenticate(self, req: falcon.Request) -> tokens.Token:
        header = req.get_header("Authorization") or ""
        scheme, _, presented = header.partition(" ")
        try:
            # the same work (one lookup, one HMAC) for a missing, malformed or wrong token
            return tokens.authenticate(self.core, presented.strip() if scheme.lower()
                                       == "bearer" else "", self.key)
        except tokens.TokenRefused:
            raise UNAUTHORIZED from None

    @staticmethod
    def _authorise(route: Route, token: tokens.Token) -> None:
        if not _scope_allows(token.scope, route.scope):
            raise ApiError(403, "insufficient_scope", f"this token's scope {token.scope!r} "
                           f"does not allow {route.method} {route.path}: use a token with "
                           f"scope {route.scope!r} or 'all'")
        if route.global_only and token.tenant is not None:
            raise ApiError(403, "tenant_token", f"a token limited to tenant {token.tenant!r} "
                           f"cannot {route.method} {route.path}: use a token for every tenant")

    def _body(self, req: falcon.Request) -> dict[str, Any]:
        length = req.content_length
        if length is not None and length > self.max_body:
            raise ApiError(413, "body_too_large", f"the body is over {self.max_body} bytes "
                           "(admin_api.max_body_bytes)")
        raw = req.bounded_stream.read(self.max_body + 1)
        if len(raw) > self.max_body:
            raise ApiError(413, "body_too_large", f"the body is over {self.max_body} bytes "
                           "(admin_api.max_body_bytes)")
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad_json", "the body is not JSON: send an object with "
                           "Content-Type: application/json") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        return data

    @staticmethod
    def _send(resp: falcon.Response, reply: Any, default_status: int) -> int:
        if not isinstance(reply, Reply):
            reply = Reply(reply, default_status)
        resp.status = falcon.code_to_http_status(reply.status)
        for name, value in reply.headers.items():
            resp.set_header(name, value)
        resp.set_header("Cache-Control", "no-store")
        if reply.stream is not None:
            resp.content_type = reply.content_type or "application/octet-stream"
            resp.stream = reply.stream if hasattr(reply.stream, "read") else _encoded(
                reply.stream)
            if reply.length is not None:
                resp.content_length = reply.length
        elif reply.content_type is not None:
            resp.content_type = reply.content_type
            resp.data = reply.body
        elif reply.status != 204:
            resp.content_type = falcon.MEDIA_JSON
            resp.data = json.dumps(to_jsonable(reply.body), ensure_ascii=False).encode()
        return reply.status

    def _audit(self, route: Route, req: falcon.Request, token: tokens.Token | None,
               call: Call | None, status: int) -> None:
        tenant = (call.tenant_name if call is not None else None) or (
            token.tenant if token is not None else None)
        result = "ok" if status < 400 else DENIED if status in (401, 403) else (
            MISS if status == 404 else ERROR)
        try:
            chain = self._chain(tenant)
            self.core.record(AuditEvent(
                action="api-call", protocol="api", result=result, chain=chain,
                tenant=tenant if chain != NO_TENANT_CHAIN else None,
                user=token.principal if token is not None else None,
                remote_addr=req.remote_addr, reason=f"{route.method} {route.path} {status}"))
        except Exception:  # the answer is sent; the failure is logged, not hidden
            log.exception("admin API: could not audit %s %s", route.method, route.path)

    def _chain(self, tenant: str | None) -> str:
        """The tenant's audit chain (looked up on every call: a purged tenant's name may
        be given to a new tenant with another chain)."""
        if tenant is None:
            return NO_TENANT_CHAIN
        with self.core.catalog.read() as conn:
            found = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar()
        return found or NO_TENANT_CHAIN


def _encoded(pieces: Iterable[bytes | str]) -> Iterator[bytes]:
    """A streamed body's pieces as UTF-8 bytes (empty pieces dropped: WSGI would end)."""
    for piece in pieces:
        data = piece.encode("utf-8") if isinstance(piece, str) else piece
        if data:
            yield data


def _error_serializer(_req: falcon.Request, resp: falcon.Response,
                      exc: falcon.HTTPError) -> None:
    """Falcon's own errors (unknown path, method not allowed) in our JSON shape."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    message = {404: "no such endpoint: see /openapi.json",
               405: "method not allowed here: see /openapi.json"}.get(
        exc.status_code, exc.title or "bad request")
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps({"error": {"code": code, "message": message}}).encode()


def build_app(core: Core, max_body_bytes: int = 65536,
              registry: Registry | None = None) -> falcon.App:
    """The WSGI app serving every route of ``registry`` (default: all resource modules)."""
    registry = registry or build_registry()
    dispatcher = Dispatcher(core, registry, max_body_bytes)
    app = falcon.App()
    app.req_options.auto_parse_form_urlencoded = False
    app.resp_options.secure_cookies_by_default = True
    app.set_error_serializer(_error_serializer)
    for path, routes in registry.paths().items():
        methods = {f"on_{r.method.lower()}": dispatcher.responder(r) for r in routes}
        app.add_route(path, type("Resource", (), methods)())
    return app
