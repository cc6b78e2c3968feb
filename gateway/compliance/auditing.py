"""Audit events of the compliance reads: who looked at a tenant's trail (a report) or at
what is held about a person (``subject find``). They name the acting admin or API token
(``gateway.actor``), the kind of read and its filters by name, never the values (a
person's name must not spread into more events)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway import actor
from gateway.audit import AuditEvent
from gateway.catalog.tables import tenants

if TYPE_CHECKING:
    from gateway.core import Core


def record_read(core: Core, action: str, tenant: str, reason: str) -> None:
    """Store one ``action`` event in ``tenant``'s chain now (the caller's read is done)."""
    with core.catalog.read() as conn:
        chain = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar()
    who = actor.current()
    core.audit.write_now([AuditEvent(
        action=action, protocol=who.protocol, chain=chain or "-", tenant=tenant,
        user=who.user, remote_addr=who.remote_addr, reason=reason[:500])])


def filters_named(values: dict[str, object]) -> str:
    """``"user, path"``: the names of the filters that were given (not their values)."""
    return ", ".join(k for k, v in values.items() if v) or "none"
