"""The audit bookkeeping of one operation: its event, its clock, how it ends.

An operation ends exactly once: appended to the audit chain inside the transaction that
does the work (``commit_in``), recorded after the fact (``finish``), or recorded as a
refusal or failure (``fail``, which turns the exception into result and reason).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.errors import GatewayError
from gateway.outcomes import failure_result

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gateway.audit import AuditEvent, AuditLog


def record_failure(audit: AuditLog, event: AuditEvent, started: float,
                   exc: BaseException) -> None:
    """Record ``event`` as refused or failed by ``exc`` (result denied | miss | error)."""
    event.result = failure_result(event.action, exc)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    message = (getattr(exc, "detail", "") or str(exc)) if isinstance(exc, GatewayError) \
        else type(exc).__name__  # detail: audit-only text (HiddenPath, AuthenticationFailed)
    event.reason = f"{reason}: {message}" if message and message != reason else reason
    event.duration_ms = int((time.monotonic() - started) * 1000)
    event.sha256 = None
    audit.record(event)


class AuditedOp:
    """One audited operation (``recorded`` once its event has been written or queued)."""

    def __init__(self, audit: AuditLog, event: AuditEvent) -> None:
        self.audit = audit
        self.event = event
        self.started = time.monotonic()
        self.recorded = False

    def _stop_clock(self) -> None:
        self.event.duration_ms = int((time.monotonic() - self.started) * 1000)

    def commit_in(self, conn: Connection) -> None:
        """Append the success event inside the transaction that does the work."""
        self._stop_clock()
        self.audit.append(conn, [self.event])
        self.recorded = True

    def finish(self) -> None:
        """Record the event as it stands (queued; for work that changed nothing)."""
        self._stop_clock()
        self.audit.record(self.event)
        self.recorded = True

    def fail(self, exc: BaseException) -> None:
        """Record the event as refused or failed by ``exc``."""
        record_failure(self.audit, self.event, self.started, exc)
        self.recorded = True
