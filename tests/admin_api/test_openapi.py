"""The OpenAPI document: valid OpenAPI 3, and exactly the app's routes and methods."""

from __future__ import annotations

import falcon.inspect
from openapi_spec_validator import validate

from gateway.admin_api.app import build_app
from gateway.admin_api.openapi import build_spec
from gateway.admin_api.routes import Param, Registry, build_registry
from tests.admin_api.conftest import Api

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _falcon_routes(app: falcon.App) -> set[tuple[str, str]]:
    """(METHOD, path) of every responder the app really has (not Falcon's defaults)."""
    out = set()
    for route in falcon.inspect.inspect_routes(app):
        for m in route.methods:
            if m.internal:  # Falcon's 405 / OPTIONS defaults
                continue
            out.add((m.method, route.path))
    return out


def _documented(spec: dict) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(method.upper(), path) for path, item in spec["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_served_document_is_valid_and_matches_the_routes(api: Api) -> None:
    spec = api.call("GET", "/openapi.json").json()
    validate(spec)
    with api.core() as core:
        routes = _falcon_routes(build_app(core))
    assert routes, "no routes found in the app"
    assert _documented(spec) == routes
    # path parameters and request bodies are described
    users = spec["paths"]["/v1/tenants/{tenant}/users"]
    assert {p["name"] for p in users["get"]["parameters"]} >= {"tenant", "limit", "cursor"}
    assert users["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"] == ["name"]
    assert "401" in users["get"]["responses"] and "401" not in \
        spec["paths"]["/healthz"]["get"]["responses"]
    assert "version" not in str(api.call("GET", "/healthz", None).headers).lower()


def test_a_new_module_appears_in_both_app_and_document(api: Api) -> None:
    """Mounting a module (as /metrics was) is one registry entry: app and document
    grow together."""
    registry = build_registry()

    def register(reg: Registry) -> None:
        @reg.route("GET", "/v1/example", scope="reports", summary="an example",
                   query=(Param("x", "test"),))
        def example(call):  # type: ignore[no-untyped-def]
            return {}

    register(registry)
    spec = build_spec(registry)
    validate(spec)
    with api.core() as core:
        routes = _falcon_routes(build_app(core, registry=registry))
    assert ("GET", "/v1/example") in routes and _documented(spec) == routes
