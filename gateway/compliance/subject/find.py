"""Art. 15 / 16: what the gateway holds about a data subject, for review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.compliance.auditing import filters_named, record_read
from gateway.compliance.subject.account import account_data
from gateway.compliance.subject.events import iter_events
from gateway.compliance.subject.scope import Criteria, resolve

if TYPE_CHECKING:
    from gateway.core import Core


@dataclass
class Findings:
    """The account (None if there is none), files, matching folders and events."""

    subject: dict[str, str]
    account: dict[str, Any] | None
    files: list[dict[str, Any]]
    folders: list[str]
    events: list[dict[str, Any]]


def find(core: Core, criteria: Criteria, *, event_limit: int | None = None) -> Findings:
    """Resolve a request and collect what it is about (at most ``event_limit`` events)."""
    scope = resolve(core, criteria)
    with core.catalog.read() as conn:
        account = account_data(conn, scope.criteria.tenant, scope.user_id)
    events = []
    for event in iter_events(core, scope):
        if event_limit is not None and len(events) >= event_limit:
            break
        events.append(event)
    by = filters_named(scope.criteria.describe() | {"tenant": ""})
    record_read(core, "subject-find", scope.criteria.tenant,
                f"data-subject search by {by}: "
                f"files={len(scope.files)}, folders={len(scope.folders)}, events={len(events)}, "
                f"account={int(account is not None)}")
    return Findings(scope.criteria.describe(), account, [f.to_dict() for f in scope.files],
                    list(scope.folders), events)
