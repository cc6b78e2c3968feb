"""The parts without a running gateway: reading a login event, the switch, the folder
``serve`` prepares, the refusals of ``metrics``, the timed store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.audit import AuditEvent
from gateway.backends import LocalBlobStore
from gateway.config import Config
from gateway.metrics import ENV_DIR, active, metrics_dir
from gateway.metrics.exposition import MetricsUnavailable, counting_dir
from gateway.metrics.observer import login_method, login_result
from gateway.metrics.process import prepare
from tests.metrics.conftest import Served, prepare as prepare_gateway


def test_login_method_and_result_from_the_audit_event() -> None:
    assert login_method("method=password; wrong password") == "password"
    assert login_method("method=publickey") == "publickey"
    assert login_method("login is not a canonical USER@TENANT") == "-"
    assert login_method(None) == "-"
    ok = AuditEvent(action="login", protocol="ssh", reason="method=password; partial success")
    assert login_result(ok) == "partial"
    assert login_result(AuditEvent(action="login", protocol="ssh", result="denied",
                                   reason="method=password; partial success")) == "denied"


def test_prepare_empties_the_folder_and_names_it(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_DIR, raising=False)
    cfg = Config(base_dir=tmp_path)
    stale = metrics_dir(cfg) / "counter_99999.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    assert not active(cfg)  # a CLI or test process never counts
    prepare(cfg)
    assert os.environ[ENV_DIR] == str(metrics_dir(cfg))
    assert list(metrics_dir(cfg).iterdir()) == []
    assert active(cfg)
    cfg.metrics.enabled = False
    prepare(cfg)
    assert ENV_DIR not in os.environ and not active(cfg)


def test_metrics_refuses_in_one_line_without_serve(tmp_path: Path) -> None:
    served = Served(tmp_path, prepare_gateway(tmp_path), proc=None)  # type: ignore[arg-type]
    p = served.cli("metrics", ok=False)
    assert p.returncode != 0
    assert p.stderr.count("\n") == 1 and "lumanox-gateway serve" in p.stderr, p.stderr
    cfg = served.cfg
    cfg.metrics.enabled = False
    with pytest.raises(MetricsUnavailable, match=r"metrics\.enabled = false"):
        counting_dir(cfg)


def test_timed_store_passes_everything_through(tmp_path: Path) -> None:
    from gateway.metrics import families
    from gateway.metrics.timedstore import TimedStore

    store = TimedStore(LocalBlobStore(tmp_path / "blobs"))
    before = families.STORE.labels(op="put", store="default")._sum.get()
    sink = store.create("a" * 32)
    sink.write(b"hello")
    assert sink.commit() == 5
    with store.open("a" * 32) as src:
        buf = bytearray(5)
        assert src.readinto(0, memoryview(buf)) == 5 and bytes(buf) == b"hello"
    assert [b.blob_id for b in store.enumerate()] == ["a" * 32]
    store.delete("a" * 32)
    assert list(store.enumerate()) == []
    assert families.STORE.labels(op="put", store="default")._sum.get() > before


def test_every_named_store_is_timed_under_its_own_name(tmp_path: Path) -> None:
    """``StoreSet.mapped`` wraps each store: a blob put into and read from the second
    store moves that store's histogram only."""
    from gateway.backends.stores import StoreSet
    from gateway.metrics import families
    from gateway.metrics.timedstore import TimedStore

    stores = StoreSet({"default": LocalBlobStore(tmp_path / "a"),
                       "second": LocalBlobStore(tmp_path / "b")},
                      {"default": "here", "second": "there"})
    timed = stores.mapped(lambda name, store: TimedStore(store, name))

    def count(op: str, store: str) -> float:
        return sum(s.value for m in families.STORE.collect() for s in m.samples
                   if s.name.endswith("_count") and s.labels == {"op": op, "store": store})

    before = {(op, s): count(op, s) for op in ("put", "get") for s in ("default", "second")}
    sink = timed.named("second").create("b" * 32)
    sink.write(b"there")
    sink.commit()
    with timed.open("b" * 32):  # by id: found in the second store
        pass
    assert count("put", "second") == before["put", "second"] + 1
    assert count("get", "second") == before["get", "second"] + 1
    assert count("put", "default") == before["put", "default"]
    assert timed.region("second") == "there"


def test_record_alert_counts_by_rule() -> None:
    from gateway.metrics import families, record_alert

    before = families.ALERTS.labels(rule="disk-full")._value.get()
    record_alert("disk-full")
    record_alert("disk-full")
    assert families.ALERTS.labels(rule="disk-full")._value.get() == before + 2


def test_recent_problems_newest_first_on_both_catalogs(core) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from gateway.metrics.live import live_status, recent_problems

    t0 = datetime.now(UTC) - timedelta(minutes=5)
    core.audit.write_now([
        AuditEvent(action="read", protocol="sftp", result="error", path="/a", ts=t0),
        AuditEvent(action="write", protocol="webdav", result="ok", path="/b",
                   ts=t0 + timedelta(seconds=1)),
        AuditEvent(action="login", protocol="ssh", result="denied", reason="wrong password",
                   ts=t0 + timedelta(seconds=2)),
        AuditEvent(action="stat", protocol="sftp", result="miss", path="/c",
                   ts=t0 + timedelta(seconds=3)),
    ])
    got = recent_problems(core, 5)
    assert [(e["action"], e["result"]) for e in got] == [("login", "denied"), ("read", "error")]
    assert got[0]["ts"].startswith(str(t0.year)) and got[0]["reason"] == "wrong password"
    assert recent_problems(core, 1)[0]["action"] == "login"
    from localnet import free_port

    core.config.webdav.port, core.config.sftp.port = free_port(), free_port()
    live = live_status(core)  # nothing serves this data directory
    assert live["serving"] is False and live["sessions"] is None and live["uptime_s"] is None
    assert all(not p["up"] for p in live["listeners"].values())


def test_observer_turns_events_into_series() -> None:
    from gateway.metrics import families as f
    from gateway.metrics.observer import MetricsObserver

    def value(family, *labels: str) -> float:  # type: ignore[no-untyped-def]
        return family.labels(*labels)._value.get()

    obs = MetricsObserver()
    before = {"ops": value(f.OPERATIONS, "unit", "write", "ok"),
              "err": value(f.ERRORS, "unit", "read"),
              "in": value(f.BYTES, "unit", "in"), "out": value(f.BYTES, "unit", "out"),
              "login": value(f.LOGINS, "unit", "publickey", "partial"),
              "ban": value(f.BANS, "unit"),
              "lat": f.LATENCY.labels("unit", "write")._sum.get()}
    obs.event(AuditEvent(action="write", protocol="unit", bytes=100, duration_ms=250))
    obs.event(AuditEvent(action="read", protocol="unit", result="error", bytes=7))
    obs.event(AuditEvent(action="read", protocol="unit", bytes=30))
    obs.event(AuditEvent(action="login", protocol="unit",
                         reason="method=publickey; partial success; password next"))
    obs.event(AuditEvent(action="ban", protocol="unit", result="denied"))
    assert value(f.OPERATIONS, "unit", "write", "ok") == before["ops"] + 1
    assert value(f.ERRORS, "unit", "read") == before["err"] + 1
    assert value(f.BYTES, "unit", "in") == before["in"] + 100
    assert value(f.BYTES, "unit", "out") == before["out"] + 30  # the failed read: none
    assert value(f.LOGINS, "unit", "publickey", "partial") == before["login"] + 1
    assert value(f.BANS, "unit") == before["ban"] + 1
    assert f.LATENCY.labels("unit", "write")._sum.get() == before["lat"] + 0.25
    # logins and bans are not operations
    assert value(f.OPERATIONS, "unit", "login", "ok") == 0
