"""The route registry: every endpoint of the admin API, declared once.

Each resource module (``RESOURCE_MODULES``) has ``register(api: Registry)`` and declares its
routes with ``@api.route(METHOD, PATH, scope=..., summary=...)``. The Falcon app
(``gateway.admin_api.app``) and the OpenAPI document (``gateway.admin_api.openapi``) are
both built from this registry, so they cannot disagree. Mounting another module (the
Prometheus ``/metrics``, compliance reports) is one line in ``RESOURCE_MODULES``.

A handler takes a ``Call`` and returns ``Reply`` (or a plain value, sent as 200 JSON).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: resource modules, each with ``register(api)``; order is the order in the document
RESOURCE_MODULES = (
    "gateway.admin_api.r_health",
    "gateway.admin_api.r_tenants",
    "gateway.admin_api.r_users",
    "gateway.admin_api.r_credentials",
    "gateway.admin_api.r_policy",
    "gateway.admin_api.r_locks",
    "gateway.admin_api.r_audit",
    "gateway.admin_api.r_metrics",
    "gateway.admin_api.r_reports",
    "gateway.admin_api.r_subject",
    "gateway.admin_api.r_retention",
    "gateway.admin_api.r_breach",
    "gateway.admin_api.r_alerts",
    "gateway.admin_api.r_notify",
)

#: who may call a route: ``public`` (no token), ``read`` (any token), or a token scope
#: (``all`` may do everything)
ROUTE_SCOPES = ("public", "read", "tenants", "users", "reports")


@dataclass
class Reply:
    """What a handler answers: a JSON body (or raw bytes with ``content_type``), or a
    ``stream`` sent as it is read: an iterable of ``bytes``/``str`` pieces or an open binary
    file (closed by the server when sent; ``length`` its size when known)."""

    body: Any = None
    status: int = 200
    content_type: str | None = None  # set: ``body`` is bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    stream: Any = None
    length: int | None = None


@dataclass(frozen=True)
class Param:
    """A query parameter (path parameters come from ``{name}`` in the path)."""

    name: str
    description: str
    type: str = "string"  # string | integer | boolean
    required: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[..., Any]
    scope: str
    summary: str
    query: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # JSON schema of the request body
    status: int = 200  # the success status
    paginated: bool = False
    #: refused to tenant-scoped tokens (creating or deleting tenants)
    global_only: bool = False
    #: health probes: answered without a token and never audited
    audited: bool = True
    #: other media types of the success answer (downloads: text/csv, application/zip)
    content: tuple[str, ...] = ()
    #: answered without a token to a loopback client when this returns true for the
    #: configuration (``/metrics`` with ``metrics.loopback_without_token``)
    loopback_open: Callable[[Any], bool] | None = None


class Registry:
    """All routes, in declaration order."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, path: str, *, scope: str, summary: str,
              query: tuple[Param, ...] = (), body: dict[str, Any] | None = None,
              status: int = 200, paginated: bool = False, global_only: bool = False,
              audited: bool = True, content: tuple[str, ...] = (),
              loopback_open: Callable[[Any], bool] | None = None
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if scope not in ROUTE_SCOPES:
            raise ValueError(f"route {method} {path}: unknown scope {scope!r}")
        if paginated:
            query = (*query, Param("limit", "page size (1-500, default 100)", "integer"),
                     Param("cursor", "opaque cursor from the previous page's next_cursor"))

        def add(handler: Callable[..., Any]) -> Callable[..., Any]:
            if any(r.method == method and r.path == path for r in self.routes):
                raise ValueError(f"route {method} {path} declared twice")
            self.routes.append(Route(method, path, handler, scope, summary, query, body,
                                     status, paginated, global_only, audited, content,
                                     loopback_open))
            return handler

        return add

    def paths(self) -> dict[str, list[Route]]:
        out: dict[str, list[Route]] = {}
        for r in self.routes:
            out.setdefault(r.path, []).append(r)
        return out


def build_registry(modules: tuple[str, ...] = RESOURCE_MODULES) -> Registry:
    api = Registry()
    for name in modules:
        importlib.import_module(name).register(api)
    return api


def obj(required: tuple[str, ...] = (), **props: dict[str, Any]) -> dict[str, Any]:
    """A JSON-schema object (for request bodies): ``obj(("name",), name=STR, ...)``."""
    schema: dict[str, Any] = {"type": "object", "properties": props,
                              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
STRS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
NULLABLE_INT: dict[str, Any] = {"type": "integer", "nullable": True}
