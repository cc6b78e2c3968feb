"""What a report covers: one tenant, optionally narrowed, over a closed period.

Names are canonical (``gateway.policy.logins``: the form the gate stores in the audit
trail) and the path a canonical catalog path (``gateway.names``), so ``ACME`` and ``acme``
report the same events. A period without an end ends when the report starts: every part
of one report (totals, events, chain check) covers the same events even while the
gateway keeps writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, exists, or_, select

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, tenants
from gateway.errors import GatewayError, InvalidName
from gateway.names import normalize_path
from gateway.policy.logins import MAX_TENANT_CHARS, canonical_name

ev = audit_events.c

if TYPE_CHECKING:
    from gateway.core import Core


class ReportError(GatewayError):
    """A report cannot be made as asked; the message says how to ask."""

    reason = "report"


@dataclass(frozen=True)
class Scope:
    """The events a report covers: ``since <= ts < until`` and every given filter."""

    tenant: str
    until: datetime
    since: datetime | None = None
    user: str | None = None
    path: str | None = None
    protocol: str | None = None
    action: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "user": self.user, "path": self.path,
                "protocol": self.protocol, "action": self.action,
                "since": _iso(self.since), "until": _iso(self.until)}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def make_scope(catalog: Catalog, tenant: str, *, user: str | None = None,
               path: str | None = None, protocol: str | None = None,
               action: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> Scope:
    """A checked scope: canonical names, UTC times, a tenant the trail knows."""
    t = canonical_name(tenant, MAX_TENANT_CHARS)
    if t is None:
        raise ReportError(f"{tenant!r} is not a tenant name: see `lumanox-gateway tenant list`")
    u = None
    if user is not None:
        u = canonical_name(user.rsplit("@", 1)[0] if user.endswith("@" + t) else user)
        if u is None:
            raise ReportError(f"{user!r} is not a user name: give the name without @TENANT")
    p = None
    if path is not None:
        try:
            p = normalize_path(path)
        except InvalidName as exc:
            raise ReportError(f"--path {path!r}: {exc}") from None
    start, end = _utc(since), _utc(until) or datetime.now(UTC)
    if start is not None and start >= end:
        raise ReportError("the period is empty: --since must be before --until")
    scope = Scope(tenant=t, user=u, path=p, protocol=protocol.lower() if protocol else None,
                  action=action.lower() if action else None, since=start, until=end)
    _require_tenant(catalog, t)
    return scope


def _require_tenant(catalog: Catalog, name: str) -> None:
    """A tenant that exists, or existed (a purged tenant's trail can still be reported)."""
    with catalog.read() as conn:
        known = conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first() or \
            conn.execute(select(exists().where(ev.tenant == name))).scalar()
    if not known:
        raise ReportError(f"no tenant {name!r} and no audit events of one: see "
                          "`lumanox-gateway tenant list`")


def period_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """The tenant and the period only (what the chain check covers)."""
    conds = [ev.tenant == scope.tenant, ev.ts < scope.until]
    if scope.since is not None:
        conds.append(ev.ts >= scope.since)
    return conds


def conditions(scope: Scope, *, action: str | None = None) -> ColumnElement[bool]:
    """Every filter of ``scope`` (``action`` overrides the scope's action filter)."""
    conds = period_conditions(scope)
    if scope.user is not None:
        conds.append(ev.user == scope.user)
    if scope.protocol is not None:
        conds.append(ev.protocol == scope.protocol)
    wanted = action or scope.action
    if wanted is not None:
        conds.append(ev.action == wanted)
    if scope.path is not None and scope.path != "/":
        inside = scope.path + "/"
        conds.append(or_(ev.path == scope.path, ev.path.startswith(inside, autoescape=True),
                         ev.dest_path == scope.path,
                         ev.dest_path.startswith(inside, autoescape=True)))
    elif scope.path == "/":
        conds.append(or_(ev.path.is_not(None), ev.dest_path.is_not(None)))
    return and_(*conds)


def record_report(core: Core, kind: str, scope: Scope, fmt: str) -> None:
    """Audit a report (``report-activity``, ``report-logins``): who read the trail of which
    period, with which filters (named, not their values)."""
    from gateway.compliance.auditing import filters_named, record_read

    named = filters_named({k: v for k, v in scope.as_dict().items()
                           if k not in ("tenant", "since", "until")})
    record_read(core, f"report-{kind}", scope.tenant,
                f"{fmt} report of {_iso(scope.since) or 'the start'} to {_iso(scope.until)}; "
                f"filters: {named}")
