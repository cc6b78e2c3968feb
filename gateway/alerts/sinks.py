"""Where fired alerts go: ``[alerts] sinks``.

``log`` writes one line to stderr (the gateway's log), control characters escaped. The
notification sinks (``webhook:<id>``, ``mail:<address>``) hand the alert's payload to the
notification outbox (``gateway.notify.outbox.enqueue``), which signs, sends and retries;
while that module is absent from a build, their delivery state says so.
"""

from __future__ import annotations

import importlib
import sys
from typing import Protocol, TextIO

from gateway.alerts.model import FiredAlert
from gateway.catalog import Catalog
from gateway.errors import GatewayError
from gateway.textout import printable

#: the outbox's message kind of alerts (its event kinds are e.g. ``file.uploaded``)
ALERT_KIND = "security.alert"


class SinkUnavailable(GatewayError):
    """A configured sink cannot deliver in this build or configuration."""


class Sink(Protocol):
    """A destination of fired alerts; ``deliver`` raises if the alert did not get there."""

    name: str

    def deliver(self, alert: FiredAlert) -> None: ...


def log_line(alert: FiredAlert) -> str:
    fields = (f"alert #{alert.id} {alert.rule}", f"tenant={alert.tenant or '-'}",
              f"subject={alert.subject}", alert.summary)
    return "lumanox-gateway: " + printable(" ".join(fields[:3]) + ": " + fields[3])


class LogSink:
    """One line per alert on stderr (or ``stream``)."""

    name = "log"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def deliver(self, alert: FiredAlert) -> None:
        print(log_line(alert), file=self.stream or sys.stderr, flush=True)


class OutboxSink:
    """``webhook:<id>`` or ``mail:<address>``: queued in the notification outbox (its
    target is the sink's name; re-queuing an alert is a no-op by its dedupe key)."""

    def __init__(self, catalog: Catalog, kind: str, target: str) -> None:
        self.catalog, self.kind, self.target = catalog, kind, target
        self.name = f"{kind}:{target}"

    def deliver(self, alert: FiredAlert) -> None:
        try:
            outbox = importlib.import_module("gateway.notify.outbox")
        except ImportError:
            raise SinkUnavailable("the notification outbox (gateway.notify) is not part of "
                                  "this build") from None
        outbox.enqueue(self.catalog, tenant_id=alert.tenant_id, kind=ALERT_KIND,
                       target=self.name, payload=alert.payload(),
                       dedupe_key=f"alert:{alert.id}:{self.name}")


def build_sinks(names: list[str], catalog: Catalog) -> list[Sink]:
    """The sinks named in ``[alerts] sinks`` (checked by the configuration loader)."""
    sinks: list[Sink] = []
    for name in names:
        kind, _, target = name.partition(":")
        sinks.append(LogSink() if name == "log" else OutboxSink(catalog, kind, target))
    return sinks
