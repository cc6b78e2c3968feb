"""The log sink: one line, control characters escaped (delivery through the outbox:
tests/alerts/test_delivery.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from gateway.alerts.model import FiredAlert
from gateway.alerts.sinks import LogSink, log_line


def test_the_log_line_is_one_line_with_control_characters_escaped() -> None:
    alert = FiredAlert("failed_logins_account", "acme", "eve\x1b[2J\nfake@acme",
                       datetime(2026, 12, 1, tzinfo=UTC), "10 failed logins", id=7)
    line = log_line(alert)
    assert "\x1b" not in line and "\n" not in line
    assert line.startswith("lumanox-gateway: alert #7 failed_logins_account tenant=acme ")
    out = io.StringIO()
    LogSink(out).deliver(alert)
    assert out.getvalue() == line + "\n"
    payload = alert.payload()
    assert payload["rule"] == "failed_logins_account" and payload["id"] == 7
