"""The breach report reads the window in keyset pages: every event once, also when many
share one timestamp, only the tenant's, only the window's (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway import admin
from gateway.audit import AuditEvent
from gateway.compliance.breach.collect import stream_events
from gateway.compliance.breach.indicators import Indicators
from gateway.core import Core
from gateway.errors import ConfigError


def test_pages_cover_the_window_once_with_tied_timestamps(core: Core) -> None:
    acme, other = admin.create_tenant(core, "acme"), admin.create_tenant(core, "other")
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    events = []
    for i in range(23):  # groups of 4 events with the very same timestamp
        ts = t0 + timedelta(seconds=i // 4)
        events.append(AuditEvent(action="read", protocol="webdav", chain=acme.id,
                                 tenant="acme", user="u", path=f"/f{i}", ts=ts))
        events.append(AuditEvent(action="read", protocol="webdav", chain=other.id,
                                 tenant="other", user="u", path=f"/o{i}", ts=ts))
    events.append(AuditEvent(action="read", protocol="webdav", chain=acme.id, tenant="acme",
                             user="u", path="/late", ts=t0 + timedelta(hours=1)))
    core.audit.write_now(events)
    got = [e["path"] for e in stream_events(core.catalog, "acme", t0,
                                            t0 + timedelta(minutes=1), page=3)]
    assert sorted(got) == sorted(f"/f{i}" for i in range(23))  # once each, no /o, no /late
    assert len(got) == len(set(got))


def test_indicators() -> None:
    ind = Indicators.parse(["10.0.0.0/8", "2001:db8::1"], ["Alice"])
    assert ind.matches({"user": "alice", "remote_addr": None})  # canonical names
    assert ind.matches({"user": "bob", "remote_addr": "10.1.2.3"})
    assert ind.matches({"user": "bob", "remote_addr": "::ffff:10.1.2.3"})
    assert ind.matches({"user": None, "remote_addr": "2001:db8::1"})
    assert not ind.matches({"user": "bob", "remote_addr": "11.0.0.1"})
    assert not ind.matches({"user": "bob", "remote_addr": "not-an-ip"})
    with pytest.raises(ConfigError, match="indicators"):
        Indicators.parse([], [])
    with pytest.raises(ConfigError, match=r"203\.0\.113\.0/24"):
        Indicators.parse(["10.0.0.300"], None)
