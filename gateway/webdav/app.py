"""The WSGI application: wsgidav configured with our provider, domain controller, catalog
locks and small middlewares (early request checks and content-security headers; anonymous
OPTIONS; finite PROPFIND depth; our folder listing)."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import Environment
from wsgidav.dir_browser import WsgiDavDirBrowser
from wsgidav.dir_browser._dir_browser import ASSET_SHARE
from wsgidav.error_printer import ErrorPrinter
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.mw.base_mw import BaseMiddleware
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from gateway.access import Access
from gateway.webdav import conditionals, context, errors, headers, limits
from gateway.webdav.auth import REALM, GatewayDomainController
from gateway.webdav.locks import SessionLockManager
from gateway.webdav.resources import LumanoxProvider

ALLOW = ("OPTIONS, GET, HEAD, POST, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, "
         "LOCK, UNLOCK")
FINITE_DEPTH_BODY = (b'<?xml version="1.0" encoding="utf-8"?>\n'
                     b'<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n')

StartResponse = Callable[..., Any]


class FiniteDepth(BaseMiddleware):
    """``PROPFIND`` with ``Depth: infinity`` (or none, RFC 4918 9.1): a file answers as
    depth 0, a missing path 404 (wsgidav's own answer), only a collection is refused with
    403 propfind-finite-depth."""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "PROPFIND" and \
                environ.get("HTTP_DEPTH", "infinity").strip().lower() == "infinity":
            provider = environ.get("wsgidav.provider")
            res = provider.get_resource_inst(environ["PATH_INFO"], environ) \
                if provider else None
            if res is not None and res.is_collection:
                start_response("403 Forbidden", [
                    ("Content-Type", "application/xml; charset=utf-8"),
                    ("Content-Length", str(len(FINITE_DEPTH_BODY)))])
                return [FINITE_DEPTH_BODY]
            if res is not None:
                environ["HTTP_DEPTH"] = "0"  # a non-collection: every depth is depth 0
        return self.next_app(environ, start_response)


class DirBrowser(WsgiDavDirBrowser):
    """wsgidav's folder listing with our own page (no script, no software name), asked
    only for GET/HEAD (it resolves the URL of every request otherwise: one wasted catalog
    lookup per PUT, PROPFIND, ...). Requests it passes on are marked as content."""

    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self.template = Environment(autoescape=True).from_string(headers.LISTING_TEMPLATE)
        # our page needs none of wsgidav's assets (which name it): no share for them
        wsgidav_app.provider_map.pop(ASSET_SHARE, None)
        wsgidav_app.sorted_share_list = [s for s in wsgidav_app.sorted_share_list
                                         if s != ASSET_SHARE.lower()]
        self.next_app = headers.mark_passed_on(next_app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return self.next_app(environ, start_response)
        environ[headers.LISTING_KEY] = True
        return super().__call__(environ, start_response)


class GatewayApp:
    """Outermost layer: per-request state, and OPTIONS answered without credentials
    (Windows' mini-redirector probes anonymously before it sends any)."""

    def __init__(self, dav: WsgiDAVApp, max_xml_body_bytes: int,
                 access: Access | None = None) -> None:
        self.dav = dav
        self.max_xml_body_bytes = max_xml_body_bytes
        self.access = access

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        context.begin_request(environ)
        start_response = headers.secured(environ, start_response)
        problem = limits.url_problem(environ)
        if problem:
            return limits.plain(start_response, "400 Bad Request", problem)
        if limits.body_problem(environ, self.max_xml_body_bytes):
            return limits.plain(start_response, "413 Content Too Large",
                                "request body too large for this method", close=True)
        if environ["REQUEST_METHOD"] == "OPTIONS":
            start_response("200 OK", [
                ("DAV", "1, 2"), ("MS-Author-Via", "DAV"), ("Allow", ALLOW),
                ("Content-Length", "0"), ("Content-Type", "text/plain")])
            return [b""]
        if "," in environ.get("HTTP_RANGE", ""):
            # several ranges: wsgidav would answer a 206 holding only the first one, which
            # a client asking for two parts would misread. RFC 9110 14.2 lets a server
            # ignore Range: the whole file comes back as 200, every conditional still
            # applied by wsgidav.
            del environ["HTTP_RANGE"]
        if not _basic_header_ok(environ.get("HTTP_AUTHORIZATION")):
            body = b"authentication failed\n"
            start_response("401 Unauthorized", [
                ("WWW-Authenticate", f'Basic realm="{REALM}"'),
                ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        if self.access is None:
            return self.dav(environ, start_response)
        try:
            return SessionEnd(self.dav(environ, start_response), environ, self.access)
        except BaseException:
            SessionEnd.end(environ, self.access)
            raise


class SessionEnd:
    """The response; when the server closes it (or drops it unclosed: a client gone
    while cheroot sent the headers), the request's session, if one was counted as open,
    ends (``Access.session_ended``). No cost per chunk."""

    __slots__ = ("access", "environ", "result")

    def __init__(self, result: Iterable[bytes], environ: dict[str, Any],
                 access: Access) -> None:
        self.result, self.environ, self.access = result, environ, access

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.result)

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.end(self.environ, self.access)

    def __del__(self) -> None:
        self.end(self.environ, self.access)

    @staticmethod
    def end(environ: dict[str, Any], access: Access) -> None:
        """End the request's counted session, once."""
        principal = environ.pop(context.COUNTED_KEY, None)
        if principal is not None:
            access.session_ended(principal, "webdav")


def _basic_header_ok(header: str | None) -> bool:
    """A Basic header wsgidav can parse (it answers 500 to broken ones)."""
    if not header or header[:6].lower() != "basic ":
        return True
    try:
        text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in text


class _DropExpected(logging.Filter):
    """A cut upload is an expected, audited event, not a traceback in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "byte copy failed" not in record.getMessage()


def _quiet_wsgidav() -> None:
    logger = logging.getLogger("wsgidav")
    logger.setLevel(logging.ERROR)
    if not any(isinstance(f, _DropExpected) for f in logger.filters):
        for name in ("wsgidav", "wsgidav.request_server"):
            logging.getLogger(name).addFilter(_DropExpected())


def build_app(access: Access) -> GatewayApp:
    """The WSGI app serving every tenant reachable through ``access`` (one per worker)."""
    conditionals.install()
    errors.install()
    cfg = access.config
    provider = LumanoxProvider(free_bytes=lambda: access.free_bytes() or 0)
    dav_config: dict[str, Any] = {
        "provider_mapping": {"/": provider},
        "lumanox": {"access": access},
        "http_authenticator": {
            "domain_controller": GatewayDomainController,
            "accept_basic": True, "accept_digest": False, "default_to_digest": False,
        },
        "middleware_stack": [ErrorPrinter, HTTPAuthenticator, FiniteDepth, DirBrowser,
                             RequestResolver],
        "lock_storage": True,  # replaced below by the lock manager over Session
        "property_manager": None,  # dead properties live on the nodes (Session.set_props)
        "block_size": cfg.webdav.block_size,
        "add_header_MS_Author_Via": True,
        "suppress_version_info": True,
        "verbose": 1,
        "logging": {"enable": False},
        "dir_browser": {
            "enable": True, "icon": False, "davmount": False, "davmount_links": False,
            "ms_sharepoint_support": False, "libre_office_support": False,
            "show_user": False, "response_trailer": False,
            "ignore": [],
        },
    }
    dav = WsgiDAVApp(dav_config)
    manager = SessionLockManager()
    dav.lock_manager = manager
    provider.set_lock_manager(manager)
    _quiet_wsgidav()
    return GatewayApp(dav, cfg.webdav.max_xml_body_bytes, access)
