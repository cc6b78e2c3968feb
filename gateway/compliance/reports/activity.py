"""The activity report: who did what, where, when, over which protocol, for one tenant.

``activity_report`` returns the report's bounded parts at once (totals from the database,
the first failed logins and admin actions with their exact counts, the chain check) and
the events as an iterator factory (``events()``): a renderer streams them, so a period of
millions of events is never held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.compliance.reports.chainstatus import ChainStatus, not_checked, verify_period
from gateway.compliance.reports.events import count_events, iter_events
from gateway.compliance.reports.scope import Scope
from gateway.compliance.reports.totals import Totals, compute_totals

ev = audit_events.c
#: failed logins and admin actions listed in a report (their counts are always exact)
LISTED = 100


@dataclass
class Listing:
    """The first ``rows`` of a kind of event and how many there are in all."""

    rows: list[dict[str, Any]]
    total: int

    @property
    def cut(self) -> bool:
        return self.total > len(self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "listed": len(self.rows), "cut": self.cut,
                "rows": [{**r, "ts": r["ts"].isoformat(timespec="milliseconds")}
                         for r in self.rows]}


@dataclass
class ActivityReport:
    scope: Scope
    generated: datetime
    totals: Totals
    failed_logins: Listing
    admin_actions: Listing
    chain: ChainStatus
    events: Callable[[], Iterator[dict[str, Any]]] = field(repr=False)

    @property
    def event_count(self) -> int:
        return self.totals.summary["events"]

    def head(self) -> dict[str, Any]:
        """Everything but the events, JSON-ready."""
        return {"report": "activity", "generated": self.generated.isoformat(timespec="seconds"),
                "scope": self.scope.as_dict(), **self.totals.as_dict(),
                "failed_logins": self.failed_logins.as_dict(),
                "admin_actions": self.admin_actions.as_dict(), "chain": self.chain.as_dict()}


def listing(catalog: Catalog, scope: Scope, *, action: str | None = None,
            extra: ColumnElement[bool] | None = None, listed: int = LISTED) -> Listing:
    """The first ``listed`` events of a kind and their exact count."""
    rows = list(iter_events(catalog, scope, action=action, extra=extra, limit=listed))
    total = len(rows) if len(rows) < listed else \
        count_events(catalog, scope, action=action, extra=extra)
    return Listing(rows, total)


def activity_report(catalog: Catalog, scope: Scope, *, key: bytes | None = None,
                    checkpoint_file: Path | None = None, verify: bool = True,
                    listed: int = LISTED) -> ActivityReport:
    """The activity report of ``scope``; ``verify`` checks the audit chains (needs the
    audit ``key`` and the ``checkpoint_file``)."""
    totals = compute_totals(catalog, scope)
    failed = Listing([], 0)
    if scope.action in (None, "login"):
        failed = listing(catalog, scope, action="login", extra=ev.result != "ok",
                         listed=listed)
    admin = Listing([], 0)
    if scope.protocol in (None, "admin"):
        admin = listing(catalog, scope, extra=ev.protocol == "admin", listed=listed)
    chain = not_checked()
    if verify:
        if key is None or checkpoint_file is None:
            raise ValueError("verifying the audit chains needs the audit key and checkpoint")
        chain = verify_period(catalog, key, checkpoint_file, scope)
    return ActivityReport(scope, datetime.now(UTC), totals, failed, admin, chain,
                          lambda: iter_events(catalog, scope))
