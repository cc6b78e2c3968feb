"""The evaluator over stored audit events (SQLite and PostgreSQL), with an injected clock:
windows, de-duplication, seen networks, the lease, and rules switched per tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway import admin
from gateway.alerts import ops
from gateway.alerts.evaluator import Evaluator
from gateway.alerts.sinks import LogSink
from gateway.audit import AuditEvent
from gateway.catalog.tables import alert_seen_networks, audit_events
from gateway.core import Core

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Capture:
    name = "capture"

    def __init__(self) -> None:
        self.got: list = []

    def deliver(self, alert) -> None:  # type: ignore[no-untyped-def]
        self.got.append(alert)


def put(core: Core, tenant: admin.Tenant, n: int, *, action: str = "login",
        result: str = "denied", user: str = "alice", addr: str = "192.0.2.7",
        start: datetime = T0, step_s: float = 1.0, nbytes: int | None = None,
        reason: str | None = None, protocol: str = "webdav") -> None:
    core.audit.write_now([AuditEvent(
        action=action, protocol=protocol, result=result, chain=tenant.id, tenant=tenant.name,
        user=user, remote_addr=addr, bytes=nbytes, reason=reason,
        ts=start + timedelta(seconds=i * step_s)) for i in range(n)])


@pytest.fixture
def evaluator(core: Core, tenant: admin.Tenant) -> tuple[Evaluator, Capture]:
    sink = Capture()
    ev = Evaluator(core, holder="test", sinks=[sink, LogSink()])
    assert ev.run_once(now=T0) is not None  # the cursor starts at the current heads
    return ev, sink


def test_failed_logins_fire_once_per_window_and_repeats_are_counted(
        core: Core, tenant: admin.Tenant, evaluator) -> None:  # type: ignore[no-untyped-def]
    ev, sink = evaluator
    put(core, tenant, 9)  # below the threshold of 10 in 300 s
    assert ev.run_once(now=T0 + timedelta(seconds=10)).fired == []
    put(core, tenant, 50, start=T0 + timedelta(seconds=10))
    got = ev.run_once(now=T0 + timedelta(seconds=70))
    assert sorted(a.rule for a in got.fired) == ["failed_logins_account",
                                                 "failed_logins_address"]
    put(core, tenant, 50, start=T0 + timedelta(seconds=70))  # the same attack goes on
    again = ev.run_once(now=T0 + timedelta(seconds=130))
    assert again.fired == [] and again.repeats == 2
    assert len(sink.got) == 2
    listed = ops.list_alerts(core, tenant="acme")
    assert {a.rule for a in listed} == {"failed_logins_account", "failed_logins_address"}
    assert all(a.delivery == {"capture": "queued", "log": "sent"}
               for a in listed)
    assert all(a.repeats == 1 for a in listed)
    with core.catalog.read() as conn:
        reasons = list(conn.execute(select(audit_events.c.reason).where(
            audit_events.c.action == "alert")).scalars())
    assert len(reasons) == 2 and any(r.startswith("failed_logins_account: ") for r in reasons)


def test_failures_spread_wider_than_the_window_do_not_fire(
        core: Core, tenant: admin.Tenant, evaluator) -> None:  # type: ignore[no-untyped-def]
    ev, _ = evaluator
    put(core, tenant, 30, step_s=40)  # 30 failures over 20 minutes: < 10 per 5 minutes
    assert ev.run_once(now=T0 + timedelta(hours=1)).fired == []


def test_a_new_network_fires_after_history_and_not_on_the_first_login(
        core: Core, tenant: admin.Tenant, evaluator) -> None:  # type: ignore[no-untyped-def]
    ev, _ = evaluator
    put(core, tenant, 3, result="ok", addr="198.51.100.10")  # first ever: just recorded
    assert ev.run_once(now=T0 + timedelta(seconds=5)).fired == []
    put(core, tenant, 1, result="ok", addr="198.51.100.99", start=T0 + timedelta(minutes=1))
    assert ev.run_once(now=T0 + timedelta(minutes=2)).fired == []  # same /24
    put(core, tenant, 2, result="ok", addr="2001:db8:1:2::5", start=T0 + timedelta(minutes=3))
    fired = ev.run_once(now=T0 + timedelta(minutes=4)).fired
    assert [(a.rule, a.details["network"]) for a in fired] == [("new_network",
                                                                "2001:db8:1::/48")]
    # a request without a login event of its own (the gate's credential cache answered)
    put(core, tenant, 1, action="read", result="ok", addr="203.0.113.5",
        start=T0 + timedelta(minutes=5))
    fired = ev.run_once(now=T0 + timedelta(minutes=6)).fired
    assert [a.subject for a in fired] == ["alice@acme 203.0.113.0/24"]
    with core.catalog.read() as conn:
        nets = set(conn.execute(select(alert_seen_networks.c.network)).scalars())
    assert nets == {"198.51.100.0/24", "2001:db8:1::/48", "203.0.113.0/24"}


def test_a_tenant_override_disables_a_rule_and_lowers_a_threshold(
        core: Core, tenant: admin.Tenant, evaluator) -> None:  # type: ignore[no-untyped-def]
    ev, _ = evaluator
    ops.set_rule(core, "acme", "failed_logins_address", {"enabled": "false"})
    ops.set_rule(core, "acme", "failed_logins_account", {"threshold": "3"})
    put(core, tenant, 3)
    fired = ev.run_once(now=T0 + timedelta(seconds=5)).fired
    assert [a.rule for a in fired] == ["failed_logins_account"]
    rules = {r["rule"]: r for r in ops.list_rules(core, "acme")}
    assert rules["failed_logins_account"]["params"]["threshold"] == 3
    assert rules["failed_logins_account"]["overridden"] == ["threshold"]


def test_single_event_rules(core: Core, tenant: admin.Tenant, evaluator) -> None:  # type: ignore[no-untyped-def]
    ev, _ = evaluator
    ops.set_rule(core, "acme", "admin_outside_window", {"enabled": "true",
                                                        "window": "22:00-06:00"})
    put(core, tenant, 2, reason="method=app-password; credential: expired: app-password nas")
    put(core, tenant, 1, action="read", result="error", reason="integrity: segment 3")
    put(core, tenant, 1, action="tenant-set", result="ok", user="admin", protocol="admin")
    put(core, tenant, 1, action="login", result="denied",  # a label is no trigger
        reason="method=app-password; credential-network: 10.0.0.1 outside the networks of "
        "app-password x; credential: expired: y")
    fired = ev.run_once(now=T0 + timedelta(minutes=1)).fired
    assert sorted(a.rule for a in fired if a.at < T0 + timedelta(days=1)) == [
        "admin_outside_window", "decrypt_failure", "expired_credential"]


def test_one_evaluator_at_a_time(core: Core, tenant: admin.Tenant, evaluator) -> None:  # type: ignore[no-untyped-def]
    ev, _ = evaluator
    other = Evaluator(core, holder="other", sinks=[])
    assert other.run_once(now=T0 + timedelta(seconds=1)) is None
    put(core, tenant, 12)
    assert other.run_once(now=T0 + timedelta(seconds=60)) is not None  # lease expired (30 s)
    assert ev.run_once(now=T0 + timedelta(seconds=61)) is None
    assert {a.rule for a in ops.list_alerts(core)} >= {"failed_logins_account"}


def test_rule_test_reports_without_storing_or_sending(core: Core, tenant: admin.Tenant,
                                                      evaluator) -> None:  # type: ignore[no-untyped-def]
    _, sink = evaluator
    put(core, tenant, 60, action="read", result="ok", nbytes=1000)
    would = ops.test_rule(core, "mass_download", since=T0 - timedelta(minutes=1),
                          until=T0 + timedelta(minutes=5))
    assert [(a.rule, a.details["files"]) for a in would] == [("mass_download", 50)]
    assert ops.list_alerts(core) == [] and sink.got == []


def test_an_alert_stored_but_never_delivered_is_delivered_next_round(
        core: Core, tenant: admin.Tenant, evaluator) -> None:  # type: ignore[no-untyped-def]
    from gateway.alerts import state
    from gateway.alerts.model import FiredAlert

    ev, sink = evaluator
    with core.catalog.write() as conn:  # an evaluator that stopped right after its commit
        state.store(conn, FiredAlert("mass_download", "acme", "bob@acme", T0, "x"), T0)
    ev.run_once(now=T0 + timedelta(seconds=5))
    assert [a.subject for a in sink.got] == ["bob@acme"]
    assert ops.list_alerts(core)[0].delivery == {"capture": "queued", "log": "sent"}
    ev.run_once(now=T0 + timedelta(seconds=10))
    assert len(sink.got) == 1


def test_evaluators_racing_fire_each_alert_once(core: Core, tenant: admin.Tenant,
                                                evaluator) -> None:  # type: ignore[no-untyped-def]
    """Two evaluators (processes or nodes) running rounds at the same time: the lease lets
    one evaluate; every alert is stored and sent exactly once."""
    import threading

    ev, sink = evaluator
    other_sink = Capture()
    other = Evaluator(core, holder="other", sinks=[other_sink])
    for burst in range(4):
        put(core, tenant, 12, user=f"u{burst}", start=T0 + timedelta(minutes=burst))
    errors: list[BaseException] = []

    def rounds(e: Evaluator, offset: int) -> None:
        try:
            for i in range(10):  # each round's clock is past the other's 30 s lease:
                # they take it from each other, also between reading and storing
                e.run_once(now=T0 + timedelta(seconds=40 * i + offset))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rounds, args=(e, o)) for e, o in ((ev, 0), (other, 5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ev.run_once(now=T0 + timedelta(hours=1))
    subjects = sorted(a.subject for a in sink.got + other_sink.got
                      if a.rule == "failed_logins_account")
    assert subjects == ["u0@acme", "u1@acme", "u2@acme", "u3@acme"]
    assert len([a for a in ops.list_alerts(core) if a.rule == "failed_logins_account"]) == 4


def test_erasing_an_account_from_the_alert_state(core: Core, tenant: admin.Tenant,
                                                 evaluator) -> None:  # type: ignore[no-untyped-def]
    ev, _ = evaluator
    put(core, tenant, 1, result="ok", addr="198.51.100.10")
    put(core, tenant, 12, user="bob", start=T0 + timedelta(seconds=5))
    put(core, tenant, 1, result="ok", addr="203.0.113.1", start=T0 + timedelta(seconds=30))
    ev.run_once(now=T0 + timedelta(minutes=1))
    assert ops.erase_subject(core, "acme", "alice") == 1
    subjects = sorted(a.subject for a in ops.list_alerts(core))
    assert "(erased)" in subjects and "bob@acme" in subjects
    assert not any("alice" in s for s in subjects)
    with core.catalog.read() as conn:
        assert list(conn.execute(select(alert_seen_networks.c.user)).scalars()) == []
