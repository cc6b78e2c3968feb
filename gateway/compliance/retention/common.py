"""What the retention modules share: the tenant by name, a folder path in its three forms,
and the audit event of an administrative retention action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from gateway import actor, admin
from gateway.audit import AuditEvent
from gateway.catalog.retention_policy import path_key
from gateway.names import join_path, split_path
from gateway.policy.logins import canonical_name

if TYPE_CHECKING:
    from gateway.core import Core

class Place(NamedTuple):
    """A path as given (``parts``), normalised (``path``) and as the core compares it."""

    parts: list[str]
    path: str
    key: str


def tenant_of(core: Core, name: str) -> admin.Tenant:
    """The tenant by its canonical name; NotFound names the listing command."""
    return admin.get_tenant(core, canonical_name(name) or name)


def place(path: str | None, case_insensitive: bool) -> Place:
    parts = split_path(path or "/")
    return Place(parts, join_path(parts), path_key(parts, case_insensitive))


def event(tenant: admin.Tenant, action: str, *, path: str | None = None,
          reason: str | None = None, nbytes: int | None = None,
          result: str = "ok") -> AuditEvent:
    who = actor.current()  # the CLI's admin, or the admin API's token
    return AuditEvent(action=action, protocol=who.protocol, chain=tenant.id, tenant=tenant.name,
                      user=who.user, remote_addr=who.remote_addr, path=path, reason=reason,
                      bytes=nbytes, result=result)


def utc(ts: datetime | str | None) -> datetime | None:
    """A stored time as an aware UTC datetime."""
    if ts is None:
        return None
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
