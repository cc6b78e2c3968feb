"""Where fired alerts go: ``[alerts] sinks``.

``log`` writes one line to stderr (the gateway's log), control characters escaped. The
notification sinks (``webhook:<id>``, ``mail:<address>``) hand the alert's payload to the
notification outbox (``gateway.notify.outbox.enqueue``), which signs, sends and retries
(webhooks get the alert's JSON; e-mails a subject line and a readable text).
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from gateway.alerts.model import FiredAlert
from gateway.catalog import Catalog
from gateway.textout import printable, printable_lines

#: the outbox's message kind of alerts (its event kinds are e.g. ``file.uploaded``)
ALERT_KIND = "security.alert"


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
        from gateway.notify import outbox

        payload = alert.payload()
        if self.kind == "mail":  # the outbox mails a payload's "subject" and "text"
            payload = {"subject": f"[Lumanox alert] {alert.rule} ({alert.tenant or '-'}): "
                                  f"{printable(alert.subject)}",
                       "text": mail_text(alert), "alert": payload}
        outbox.enqueue(self.catalog, tenant_id=alert.tenant_id, kind=ALERT_KIND,
                       target=self.name, payload=payload,
                       dedupe_key=f"alert:{alert.id}:{self.name}")


def mail_text(alert: FiredAlert) -> str:
    """The body of an alert e-mail: what fired, about whom, when, and what to look at."""
    p = alert.payload()
    lines = [p["summary"], "", f"rule:     {p['rule']} - {p['description']}",
             f"tenant:   {p['tenant'] or '-'}", f"subject:  {p['subject']}",
             f"at:       {p['at']}", f"alert id: {p['id']}", ""]
    lines += [f"{k}: {v}" for k, v in sorted(p["details"].items())]
    lines += ["", "See `lumanox-gateway alert list` and the audit trail for the events."]
    return printable_lines("\n".join(lines))


def build_sinks(names: list[str], catalog: Catalog) -> list[Sink]:
    """The sinks named in ``[alerts] sinks`` (checked by the configuration loader)."""
    sinks: list[Sink] = []
    for name in names:
        kind, _, target = name.partition(":")
        sinks.append(LogSink() if name == "log" else OutboxSink(catalog, kind, target))
    return sinks
