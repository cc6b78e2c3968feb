"""Webhook endpoints: per tenant (or of no tenant, for operator alerts), each with a
Standard Webhooks secret shown once at creation and stored sealed (``notify.sealed``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select

from gateway.catalog.tables import webhook_endpoints
from gateway.core import Core
from gateway.errors import NotFound
from gateway.notify import registry
from gateway.notify.outbox import utc
from gateway.notify.sealed import seal_secret, unseal_secret
from gateway.notify.signing import new_secret


@dataclass(frozen=True)
class Endpoint:
    id: str
    tenant: str | None
    url: str
    events: list[str]  # kinds it accepts; [] = all
    created_at: datetime

    def accepts(self, kind: str) -> bool:
        return not self.events or kind in self.events


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: Endpoint
    secret: str  # shown once


def _endpoint(row, names: dict[str, str]) -> Endpoint:  # type: ignore[no-untyped-def]
    return Endpoint(row.id, names.get(row.tenant_id) if row.tenant_id else None, row.url,
                    json.loads(row.events), utc(row.created_at))


def add_endpoint(core: Core, tenant: str | None, url: str,
                 events: list[str] | None = None) -> NewEndpoint:
    """Register an endpoint; the secret is returned here and never again."""
    with core.catalog.read() as conn:
        owner = registry.tenant_id(conn, tenant) if tenant is not None else None
    try:
        registry.check_url(url, allow_plain_http=core.config.notify.allow_plain_http)
    except registry.UnsafeURL as exc:
        with core.catalog.write() as conn:
            registry.audit_change(core, conn, "webhook-add", owner, path=url,
                                  reason=str(exc), result="denied")
        raise
    eid, secret = uuid.uuid4().hex, new_secret()
    sealed = seal_secret(core, owner[0] if owner else None, eid, secret)  # keys read first
    with core.catalog.write() as conn:
        conn.execute(webhook_endpoints.insert().values(
            id=eid, tenant_id=owner[0] if owner else None, url=url,
            events=json.dumps(sorted(set(events or []))), secret_sealed=sealed,
            created_at=datetime.now(UTC)))
        registry.audit_change(core, conn, "webhook-add", owner, path=url, reason=f"id {eid}")
        names = registry.tenant_names(conn)
        row = conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == eid)).one()
    return NewEndpoint(_endpoint(row, names), secret)


def list_endpoints(core: Core, tenant: str | None = None) -> list[Endpoint]:
    with core.catalog.read() as conn:
        q = select(webhook_endpoints).order_by(webhook_endpoints.c.created_at)
        if tenant is not None:
            q = q.where(webhook_endpoints.c.tenant_id == registry.tenant_id(conn, tenant)[0])
        names = registry.tenant_names(conn)
        return [_endpoint(r, names) for r in conn.execute(q)]


def remove_endpoint(core: Core, endpoint_id: str) -> Endpoint:
    """Remove an endpoint and its event rules (pending deliveries to it dead-letter)."""
    with core.catalog.write() as conn:
        row = conn.execute(select(webhook_endpoints)
                           .where(webhook_endpoints.c.id == endpoint_id)).first()
        if row is None:
            raise NotFound(f"no webhook {endpoint_id!r}: see `lumanox-gateway webhook list`")
        names = registry.tenant_names(conn)
        ep = _endpoint(row, names)
        conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
        owner = (row.tenant_id, ep.tenant or "") if row.tenant_id else None
        registry.audit_change(core, conn, "webhook-remove", owner, path=ep.url,
                              reason=f"id {endpoint_id}")
    return ep


def endpoint_with_secret(core: Core, endpoint_id: str) -> tuple[Endpoint, str] | None:
    """The endpoint and its secret (for signing), or None if it was removed."""
    with core.catalog.read() as conn:
        row = conn.execute(select(webhook_endpoints)
                           .where(webhook_endpoints.c.id == endpoint_id)).first()
        names = registry.tenant_names(conn) if row is not None else {}
    if row is None:
        return None
    return _endpoint(row, names), unseal_secret(core, row.tenant_id, row.id, row.secret_sealed)
