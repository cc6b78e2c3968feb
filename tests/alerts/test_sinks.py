"""The sinks: the log line escapes control characters; a notification sink without the
outbox module in the build records why it could not deliver, and the log sink still does."""

from __future__ import annotations

import importlib.util
import io
from datetime import UTC, datetime

import pytest

from gateway.alerts.model import FiredAlert
from gateway.alerts.sinks import LogSink, OutboxSink, SinkUnavailable, log_line


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


@pytest.mark.skipif(importlib.util.find_spec("gateway.notify") is not None,
                    reason="the notification outbox is part of this build")
def test_a_notification_sink_without_the_outbox_says_so() -> None:
    sink = OutboxSink(None, "webhook", "soc")  # type: ignore[arg-type]
    assert sink.name == "webhook:soc"
    with pytest.raises(SinkUnavailable, match=r"gateway\.notify"):
        sink.deliver(FiredAlert("new_network", "acme", "x", datetime.now(UTC), "y", id=1))
