"""The one observer on the audit path: every audited event of a worker (operations,
logins, bans) becomes counters and a latency sample; every stored batch of queued events
a batch latency and the queue depth.

Hot path (every small-file operation): label children are bound once per label values and
kept in plain dicts; each event costs a few dict look-ups and memory-mapped increments.
"""

from __future__ import annotations

from typing import Any

from gateway.audit import AuditEvent
from gateway.metrics import families as f

#: audited actions whose ``bytes`` is file content moved, and its direction
DIRECTIONS = {"read": "out", "write": "in"}


def login_method(reason: str | None) -> str:
    """The method a login event names (``method=...`` first in its reason), else ``-``."""
    if reason and reason.startswith("method="):
        return reason[7:].split(";", 1)[0].strip() or "-"
    return "-"


def login_result(event: AuditEvent) -> str:
    """``ok``, ``partial`` (one factor of several accepted) or the refusal's result."""
    if event.result == "ok" and event.reason and "partial success" in event.reason:
        return "partial"
    return event.result


class Children:
    """Label children of one family, bound on first use."""

    __slots__ = ("_bound", "_family")

    def __init__(self, family: Any) -> None:
        self._family = family
        self._bound: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self._bound.get(labels)
        if child is None:
            child = self._bound[labels] = self._family.labels(*labels)
        return child


class MetricsObserver:
    """``AuditLog.observer`` of a counting process."""

    def __init__(self) -> None:
        self.operations = Children(f.OPERATIONS)
        self.errors = Children(f.ERRORS)
        self.latency = Children(f.LATENCY)
        self.bytes = Children(f.BYTES)
        self.logins = Children(f.LOGINS)
        self.bans = Children(f.BANS)
        self.sessions = Children(f.SESSIONS)

    # --- AuditLog.observer ------------------------------------------------------------
    def event(self, ev: AuditEvent) -> None:
        action, protocol, result = ev.action, ev.protocol, ev.result
        if action == "login":
            self.logins(protocol, login_method(ev.reason), login_result(ev)).inc()
            return
        if action == "ban":
            self.bans(protocol).inc()
            return
        self.operations(protocol, action, result).inc()
        if result == "error":
            self.errors(protocol, action).inc()
        if ev.duration_ms is not None:
            self.latency(protocol, action).observe(ev.duration_ms / 1000)
        if ev.bytes and result == "ok":
            direction = DIRECTIONS.get(action)
            if direction is not None:
                self.bytes(protocol, direction).inc(ev.bytes)

    def batch(self, size: int, seconds: float, waiting: int) -> None:
        f.AUDIT_BATCH.observe(seconds)
        f.AUDIT_QUEUE.set(waiting)

    # --- sessions (gateway.access) ---------------------------------------------------------
    def session(self, protocol: str, tenant: str, delta: int) -> None:
        self.sessions(protocol, tenant).inc(delta)
