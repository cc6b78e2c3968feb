"""The OpenAPI 3 document of the admin API, generated from the route registry (apispec),
so every route the app serves is documented with its methods, parameters, body schema,
success status and the error statuses it can answer."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec

from gateway.admin_api.routes import Registry, Route

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "stable, for programs"},
        "message": {"type": "string", "description": "one line naming the problem and fix"}}}},
}
PAGE_SCHEMA = {
    "type": "object", "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"type": "object"}},
                   "next_cursor": {"type": "string", "nullable": True}},
}
_PARAM = re.compile(r"\{(\w+)\}")
_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(route: Route) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in _PARAM.findall(route.path)]
    params += [{"name": p.name, "in": "query", "required": p.required,
                "description": p.description, "schema": {"type": _TYPES[p.type]}}
               for p in route.query]
    if route.paginated:
        success = {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}
    elif route.path in ("/healthz",):
        success = {"text/plain": {"schema": {"type": "string"}}}
    else:
        success = {"application/json": {"schema": {"type": "object"}}}
    for media in route.content:  # downloads (streamed) and other text forms
        success = {**success, media: {"schema": {"type": "string", "format": "binary"}}}
    responses: dict[str, Any] = {str(route.status): {"description": "success",
                                                     "content": success}}
    if route.path == "/readyz":
        responses["503"] = {"description": "not ready: `failed` names the check",
                            "content": success}
    if route.scope != "public":
        responses["401"] = _error("no valid token (the same answer for every kind of bad "
                                  "token)")
        responses["403"] = _error("the token's scope does not allow this")
        responses["400"] = _error("bad parameter, cursor or JSON")
        if "{" in route.path or route.method != "GET":
            responses["404"] = _error("no such object, or one of another tenant")
    if route.body is not None:
        responses["409"] = _error("conflicts with what exists")
        responses["413"] = _error("the body is too large")
        responses["422"] = _error("a field is missing or invalid")
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{route.method.lower()}_{route.handler.__name__}_"
                       + re.sub(r"\W+", "_", route.path).strip("_"),
        "parameters": params,
        "responses": responses,
        "tags": [route.path.split("/")[2] if route.path.startswith("/v1/") else "service"],
        "x-scope": route.scope,
    }
    if route.scope != "public":
        op["security"] = [{"bearer": []}]
    else:
        op["security"] = []
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": route.body}}}
    return op


def build_spec(registry: Registry) -> dict[str, Any]:
    """The document as a dict (served at ``/openapi.json``)."""
    spec = APISpec(title="Lumanox Gateway admin API", version="1", openapi_version="3.0.3",
                   info={"description": "Tenants, users, credentials, policy, locks, the "
                         "audit trail and the compliance operations over HTTPS with bearer tokens "
                         "(`lumanox-gateway admin-token create`). See docs/admin-api.md."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.schema("Page", PAGE_SCHEMA)
    for path, routes in registry.paths().items():
        spec.path(path=path, operations={r.method.lower(): _operation(r) for r in routes})
    return spec.to_dict()
