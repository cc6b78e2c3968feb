"""Shared look-ups of the notification services: tenants by canonical name, the audit
event of an administrative change (in the caller's transaction), URL rules."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import Connection, select

from gateway import actor
from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.catalog.tables import tenants
from gateway.core import Core
from gateway.errors import ConfigError, NotFound
from gateway.names import is_loopback_host
from gateway.policy.logins import canonical_name


class UnsafeURL(ConfigError):
    """A webhook URL the gateway refuses to call (scheme, host, credentials)."""


def tenant_id(conn: Connection, name: str) -> tuple[str, str]:
    """(id, canonical name) of a tenant, or NotFound naming the fix."""
    canon = canonical_name(name) or name
    tid = conn.execute(select(tenants.c.id).where(tenants.c.name == canon)).scalar()
    if tid is None:
        raise NotFound(f"no tenant {name!r}: see `lumanox-gateway tenant list`")
    return tid, canon


def tenant_names(conn: Connection) -> dict[str, str]:
    return {r.id: r.name for r in conn.execute(select(tenants.c.id, tenants.c.name))}


def audit_change(core: Core, conn: Connection, action: str, tenant: tuple[str, str] | None,
                 *, path: str | None = None, reason: str | None = None,
                 result: str = "ok") -> None:
    """Audit a notification change in the same transaction. Never pass a secret."""
    chain, name = tenant if tenant else (NO_TENANT_CHAIN, None)
    who = actor.current()
    core.audit.append(conn, [AuditEvent(action=action, protocol=who.protocol, chain=chain,
                                        tenant=name, user=who.user, path=path,
                                        remote_addr=who.remote_addr, reason=reason,
                                        result=result)])


def check_url(url: str, *, allow_plain_http: bool) -> str:
    """The URL if the gateway may POST to it: https://, or http:// to a loopback address
    (or anywhere with ``notify.allow_plain_http``); never with credentials in it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeURL(f"webhook URL {url!r}: use https://HOST/PATH")
    if parts.username or parts.password:
        raise UnsafeURL("webhook URL: no user or password in the URL; the receiver checks "
                        "the signature instead")
    if parts.scheme == "http" and not allow_plain_http and not is_loopback_host(host):
        raise UnsafeURL(f"webhook URL {url!r}: plain http is allowed only to loopback; use "
                        "https, or set notify.allow_plain_http = true")
    return url
