"""``/healthz`` (the process answers), ``/readyz`` (catalog, keys, every enabled listener)
and ``/openapi.json``. The probes need no token, are not audited, and say nothing beyond
ok / the name of the failing check (no versions, no addresses)."""

from __future__ import annotations

import json
import socket
from functools import lru_cache

from sqlalchemy import text

from gateway.admin_api.calls import Call
from gateway.admin_api.routes import Registry, Reply

PROBE_TIMEOUT_S = 1.0


def _listeners(call: Call) -> list[tuple[str, str, int]]:
    """(name, host, port) of every front-end this gateway runs."""
    from gateway import sftp, webdav

    cfg = call.core.config
    out = []
    for name, available in (("webdav", webdav.AVAILABLE), ("sftp", sftp.AVAILABLE),
                            ("admin_api", True)):
        section = getattr(cfg, name)
        if available and section.enabled:
            out.append((name, section.host, section.port))
    return out


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def failing_check(call: Call) -> str | None:
    """The name of the first readiness check that fails, else None."""
    try:
        with call.core.catalog.read() as conn:
            conn.execute(text("SELECT 1")).scalar()
    except Exception:
        return "catalog"
    try:
        if not call.core.audit.key or not call.core.keyring.master_key_id:
            return "keys"
    except Exception:
        return "keys"
    for name, host, port in _listeners(call):
        if not _accepts(host, port):
            return f"{name} listener"
    return None


@lru_cache(maxsize=1)
def _spec() -> bytes:
    from gateway.admin_api.openapi import build_spec
    from gateway.admin_api.routes import build_registry

    return json.dumps(build_spec(build_registry()), indent=1).encode()


def register(api: Registry) -> None:
    @api.route("GET", "/healthz", scope="public", audited=False,
               summary="The API process answers: 200 ok")
    def healthz(call: Call) -> Reply:
        return Reply(b"ok\n", content_type="text/plain")

    @api.route("GET", "/readyz", scope="public", audited=False,
               summary="Catalog reachable, keys loaded, every enabled listener accepting; "
               "503 naming the failing check")
    def readyz(call: Call) -> Reply:
        failed = failing_check(call)
        if failed is None:
            return Reply({"status": "ready"})
        return Reply({"status": "not ready", "failed": failed}, 503)

    @api.route("GET", "/openapi.json", scope="read",
               summary="This API's OpenAPI 3 document (generated from the route registry)")
    def openapi(call: Call) -> Reply:
        return Reply(_spec(), content_type="application/json")
