"""The evaluator's windows kept between rounds (gateway/alerts/windows.py): a burst split
over rounds is found, a round reads only its new events, a failed round or another
evaluator's rounds are never counted twice or missed, and memory stays bounded."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from gateway import admin
from gateway.alerts import state
from gateway.alerts.detect import Scope, detect
from gateway.alerts.evaluator import Evaluator, Params
from gateway.alerts.model import defaults
from gateway.alerts.windows import SLACK, Windows
from gateway.catalog.tables import audit_events
from gateway.core import Core
from tests.alerts.test_evaluator import T0, Capture, put


def read(core: Core, tenant: admin.Tenant, n: int, start_s: float, *, user: str = "alice",
         step_s: float = 0.5, nbytes: int = 1000) -> None:
    put(core, tenant, n, action="read", result="ok", user=user, nbytes=nbytes,
        start=T0 + timedelta(seconds=start_s), step_s=step_s)


def first_round(core: Core, holder: str = "test") -> tuple[Evaluator, Capture]:
    sink = Capture()
    ev = Evaluator(core, holder=holder, sinks=[sink])
    assert ev.run_once(now=T0) is not None
    return ev, sink


def recent(core: Core, action: str, since: datetime) -> int:
    with core.catalog.read() as conn:
        return conn.execute(select(func.count()).select_from(audit_events).where(
            audit_events.c.action == action, audit_events.c.ts > since)).scalar_one()


def window_queries(core: Core, run) -> int:  # type: ignore[no-untyped-def]
    """How many statements of ``run()`` read audit events by time (a window read)."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "audit_events" in statement and "audit_events.ts >=" in statement:
            seen.append(statement)

    event.listen(core.catalog.engine, "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(core.catalog.engine, "before_cursor_execute", count)
    return len(seen)


def test_a_burst_split_over_rounds_fires_and_later_rounds_read_no_window(
        core: Core, tenant: admin.Tenant) -> None:
    ev, sink = first_round(core)
    read(core, tenant, 30, 1)  # 30 of the 50 files in 60 s: nothing yet
    assert window_queries(core, lambda: ev.run_once(now=T0 + timedelta(seconds=20))) == 1
    read(core, tenant, 10, 20)
    assert window_queries(core, lambda: ev.run_once(now=T0 + timedelta(seconds=30))) == 0
    read(core, tenant, 20, 30)
    got: list = []
    assert window_queries(core, lambda: got.append(  # one exact count for the new alert
        ev.run_once(now=T0 + timedelta(seconds=40)))) == 1
    read(core, tenant, 30, 40)  # goes on: a repeat, found without reading a window
    assert window_queries(core, lambda: ev.run_once(now=T0 + timedelta(seconds=50))) == 0
    assert [a.rule for a in got[0].fired] == ["mass_download"]
    assert got[0].fired[0].details["files"] == 50  # found at the 50th download
    assert [a.rule for a in sink.got] == ["mass_download"]


def test_a_failed_round_is_not_counted_twice(core: Core, tenant: admin.Tenant,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ev, sink = first_round(core)
    read(core, tenant, 30, 1)

    def fail(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("catalog went away")

    with monkeypatch.context() as m:
        m.setattr(state, "save_cursor", fail)
        with pytest.raises(RuntimeError):
            ev.run_once(now=T0 + timedelta(seconds=20))
    # the same 30 events again (the cursor did not move): 30, not 60, downloads
    assert ev.run_once(now=T0 + timedelta(seconds=21)).fired == []
    read(core, tenant, 19, 20)  # 49 in the window
    assert ev.run_once(now=T0 + timedelta(seconds=40)).fired == []
    read(core, tenant, 1, 30)  # the 50th
    assert [a.rule for a in ev.run_once(now=T0 + timedelta(seconds=41)).fired] == \
        ["mass_download"]
    assert len(sink.got) == 1


def test_rounds_of_another_evaluator_in_between_are_not_missed(
        core: Core, tenant: admin.Tenant) -> None:
    ev, _ = first_round(core)
    read(core, tenant, 20, 1)
    assert ev.run_once(now=T0 + timedelta(seconds=11)).fired == []
    other = Evaluator(core, holder="other", sinks=[])
    read(core, tenant, 20, 11)
    assert other.run_once(now=T0 + timedelta(seconds=45)).fired == []  # ev's lease expired
    read(core, tenant, 10, 21)  # 50 in 30 s: the one who evaluates next must see all
    assert ev.run_once(now=T0 + timedelta(seconds=50)) is None  # other holds it now
    assert [a.rule for a in ev.run_once(now=T0 + timedelta(seconds=76)).fired] == \
        ["mass_download"]  # other's lease ran out: ev evaluates again, over all 50


def test_a_tenant_threshold_above_the_default_is_kept_whole(core: Core,
                                                            tenant: admin.Tenant) -> None:
    from gateway.alerts import ops

    ops.set_rule(core, "acme", "mass_download", {"max_files": "80"})  # above the default
    ev, _ = first_round(core)
    read(core, tenant, 60, 1, step_s=0.2)
    assert ev.run_once(now=T0 + timedelta(seconds=20)).fired == []
    read(core, tenant, 20, 14, step_s=0.2)
    fired = ev.run_once(now=T0 + timedelta(seconds=30)).fired
    assert [(a.rule, a.details["files"]) for a in fired] == [("mass_download", 80)]


def test_the_windows_find_what_a_fresh_read_of_the_catalog_finds_on_random_traffic(
        core: Core, tenant: admin.Tenant) -> None:
    """Round after round of random, overlapping traffic (downloads and failed logins of
    several accounts and addresses), the rules over the kept windows raise exactly the
    alerts that the same rules over windows read from the catalog raise; at most a cap
    of events is held per subject."""
    params = Params(defaults(core.config), {})
    windows = Windows()
    rng = random.Random(7)
    with core.catalog.read() as conn:
        cursor = state.heads(conn)
    raised = 0
    for r in range(40):
        for user in ("alice", "bob", "carol"):
            # each account's events of a round lie within 15 s from a start up to 10 s
            # before the round's time: some arrive late, by less than SLACK (25 s at most)
            start = 20.0 * r + rng.uniform(-10, 0)
            n = rng.choice((0, 3, 12, 30))
            read(core, tenant, n, start, user=user, step_s=rng.choice((0.1, 15 / max(n, 1))),
                 nbytes=rng.choice((10, 40 * 1024 ** 2)))
            put(core, tenant, rng.choice((0, 2, 6)), user=user,
                addr=rng.choice(("192.0.2.7", "198.51.100.9")),
                start=T0 + timedelta(seconds=start), step_s=rng.choice((0.5, 2.5)))
        if rng.random() < 0.1:
            windows.reset()  # as after a failed round: read again from the catalog
        with core.catalog.read() as conn:
            events, moved = state.new_events(conn, cursor, 5000)
            kept = [a.exact(conn) if a.exact else a for a in detect(
                Scope(conn, params, state.TableSeen(conn), windows, cursor, params.reach),
                events)]
            fresh = detect(Scope(conn, params, state.TableSeen(conn)), events)
        assert [(a.rule, a.subject, a.at, a.details) for a in kept] == \
            [(a.rule, a.subject, a.at, a.details) for a in fresh]
        raised += len(kept)
        cursor = moved
        for rule, action, caps in (("mass_download", "read", 3 * 50),
                                   ("failed_logins_account", "login", 3 * 10),
                                   ("failed_logins_address", "login", 2 * 20)):
            if rule in windows._newest:  # at most the caps and the events of the last SLACK
                assert windows.size(rule) <= caps + recent(core, action,
                                                           windows._newest[rule] - SLACK)
    assert raised > 5
