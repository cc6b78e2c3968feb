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
from gateway.errors import ConfigError, NotFound


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


def test_report_in_process_on_both_databases(core: Core) -> None:
    """The report's pieces on SQLite and PostgreSQL (timestamps come back naive or aware):
    a listing, reads, a move, a delete and a refusal from the intruder's address."""
    from gateway.compliance.breach.report import build_report

    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password="correct horse battery")
    admin.create_user(core, "acme", "bob", password="correct horse battery",
                      permissions='[{"prefix": "/", "perms": ["list", "read"]}]')
    alice = admin.principal_for(core, "acme", "alice")
    home = core.session(alice, "test", "127.0.0.1")
    home.mkdir("/d")
    for i in range(4):
        home.write_file(f"/d/f{i}.txt", b"x" * (10 + i))
    since = datetime.now(UTC)
    bad = core.session(alice, "webdav", "198.51.100.9")
    list(bad.list("/d"))
    bad.read_file("/d/f0.txt")
    bad.move("/d/f1.txt", "/d/g1.txt")
    bad.delete("/d/f2.txt")
    with pytest.raises(NotFound):
        bad.stat("/d/nope.txt")  # a probe of a missing path: counted, not a file involved
    home.read_file("/d/f3.txt")  # the owner, from her usual address: not in the report
    refused = core.session(admin.principal_for(core, "acme", "bob"), "sftp", "198.51.100.9")
    with pytest.raises(Exception):  # noqa: B017 - any refusal: audited as denied
        refused.write_file("/d/h.txt", b"no")
    core.audit.flush()
    r = build_report(core, "acme", since, datetime.now(UTC) + timedelta(seconds=1),
                     Indicators.parse(["198.51.100.0/24"], None))
    files = {f["path"]: f for f in r["files"]}
    assert set(files) == {"/d/f0.txt", "/d/f1.txt", "/d/g1.txt", "/d/f2.txt", "/d/f3.txt",
                          "/d/h.txt"}
    assert files["/d/f0.txt"]["exposure"] == "read" and files["/d/f0.txt"]["bytes_read"] == 10
    assert files["/d/f3.txt"]["encrypted_at_rest_only"]  # listed, read only by the owner
    assert files["/d/f1.txt"]["moved_to"] == "/d/g1.txt" and files["/d/g1.txt"]["exists_now"]
    assert files["/d/f2.txt"]["changes"] == {"delete": 1}
    assert files["/d/h.txt"]["refused_attempts"] == 1
    assert [a["account"] for a in r["accounts"]] == ["alice", "bob"]
    assert r["accounts"][0]["missing_paths_probed"] == 1
    assert r["counts"]["files_read"] == 1 and r["counts"]["files_deleted"] == 1
