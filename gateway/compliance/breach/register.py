"""The register of personal data breaches (GDPR Art. 33(5)): the facts of each breach, its
effects and the remedial action taken, kept in the catalog (table ``breaches``) so that the
supervisory authority can verify compliance. Recording one is audited in the same
transaction (action ``breach-record``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway import actor
from gateway.admin import get_tenant
from gateway.audit import AuditEvent
from gateway.catalog.tables import breaches, tenants
from gateway.compliance.breach.collect import utc
from gateway.compliance.breach.report import NOTIFY_WITHIN
from gateway.errors import ConfigError, NotFound
from gateway.policy.logins import canonical_name

MAX_NATURE = 10000


@dataclass(frozen=True)
class Breach:
    id: int
    tenant: str
    discovered_at: datetime
    notification_deadline: datetime
    nature: str
    measures: str | None
    notified_authority_at: datetime | None
    notified_subjects_at: datetime | None
    recorded_at: datetime
    report: dict[str, Any] | None = None


def _when(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _breach(row: Any, with_report: bool = False) -> Breach:
    discovered = utc(row.discovered_at)
    return Breach(row.id, row.name, discovered, discovered + NOTIFY_WITHIN, row.nature,
                  row.measures, _when(row.notified_authority_at),
                  _when(row.notified_subjects_at), utc(row.recorded_at),
                  json.loads(row.report) if with_report and row.report else None)


def record_breach(core, tenant: str, *, discovered: datetime, nature: str,  # type: ignore[no-untyped-def]
                  measures: str | None = None, report: dict[str, Any] | None = None,
                  notified_authority: datetime | None = None,
                  notified_subjects: datetime | None = None) -> Breach:
    """Add a breach to the register (and its audit event, in one transaction)."""
    name = canonical_name(tenant)
    if name is None:
        raise ConfigError(f"{tenant!r} is not a tenant name")
    if not nature.strip() or len(nature) > MAX_NATURE:
        raise ConfigError(f"--nature: describe the breach in 1-{MAX_NATURE} characters")
    if report is not None and report.get("tenant", {}).get("name") not in (None, name):
        raise ConfigError(f"the report is about tenant {report['tenant']['name']!r}, not "
                          f"{name!r}: attach the report of this tenant's breach")
    t = get_tenant(core, name)
    now = datetime.now(UTC)
    with core.catalog.write() as conn:
        new_id = conn.execute(breaches.insert().values(
            tenant_id=t.id, discovered_at=utc(discovered), nature=nature.strip(),
            measures=measures, notified_authority_at=_when(notified_authority),
            notified_subjects_at=_when(notified_subjects),
            report=json.dumps(report, sort_keys=True) if report is not None else None,
            recorded_at=now)).inserted_primary_key[0]
        who = actor.current()
        core.audit.append(conn, [AuditEvent(
            action="breach-record", protocol=who.protocol, chain=t.id, tenant=t.name,
            user=who.user, remote_addr=who.remote_addr, path=f"breach/{new_id}",
            reason=f"discovered {utc(discovered).isoformat(timespec='seconds')}")])
    return show_breach(core, int(new_id))


def _query(with_report: bool):  # type: ignore[no-untyped-def]
    cols = [breaches.c.id, tenants.c.name, breaches.c.discovered_at, breaches.c.nature,
            breaches.c.measures, breaches.c.notified_authority_at,
            breaches.c.notified_subjects_at, breaches.c.recorded_at]
    if with_report:
        cols.append(breaches.c.report)
    return select(*cols).join(tenants, tenants.c.id == breaches.c.tenant_id)


def list_breaches(core, tenant: str | None = None) -> list[Breach]:  # type: ignore[no-untyped-def]
    """The register, oldest discovery first; one tenant's with ``tenant``."""
    q = _query(False)
    if tenant is not None:
        t = get_tenant(core, canonical_name(tenant) or tenant)
        q = q.where(breaches.c.tenant_id == t.id)
    with core.catalog.read() as conn:
        rows = conn.execute(q.order_by(breaches.c.discovered_at, breaches.c.id)).all()
    return [_breach(r) for r in rows]


def show_breach(core, breach_id: int) -> Breach:  # type: ignore[no-untyped-def]
    with core.catalog.read() as conn:
        row = conn.execute(_query(True).where(breaches.c.id == breach_id)).first()
    if row is None:
        raise NotFound(f"no breach {breach_id} in the register: see `lumanox-gateway breach "
                       "list`")
    return _breach(row, with_report=True)
