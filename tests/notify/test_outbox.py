"""The outbox and its dispatcher against a real catalog (SQLite and PostgreSQL) and a real
HTTP receiver: dedupe, exclusive claims, retries with every attempt kept, dead letters,
signed deliveries, and the event watcher's rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from gateway import admin
from gateway.catalog.tables import audit_events, notify_outbox
from gateway.core import Core
from gateway.notify import events, outbox, webhooks
from gateway.notify.dispatcher import Dispatcher
from gateway.notify.watcher import take_lease, watch_once
from tests.notify.hooks import HookListener


@pytest.fixture
def listener() -> Iterator[HookListener]:
    hook = HookListener().start()
    yield hook
    hook.stop()


@pytest.fixture
def fast(core: Core) -> Core:
    core.config.notify.max_attempts = 3
    core.config.notify.retry_base_ms = 10
    core.config.notify.retry_max_ms = 20
    return core


def drain(dispatcher: Dispatcher, entry_id: int, rounds: int = 200) -> outbox.Entry:
    """Run dispatcher rounds until the entry is delivered or dead."""
    for _ in range(rounds):
        dispatcher.run_once()
        item = next(e for e in outbox.list_entries(dispatcher.core.catalog) if e.id == entry_id)
        if item.state != "pending":
            return item
        threading.Event().wait(0.02)
    raise AssertionError(f"entry {entry_id} still pending")


def test_a_dedupe_key_is_queued_once(core: Core) -> None:
    first = outbox.enqueue(core.catalog, tenant_id=None, kind="alert", target="mail:a@b.example",
                           payload={"x": 1}, dedupe_key="k1")
    again = outbox.enqueue(core.catalog, tenant_id=None, kind="alert",
                           target="mail:a@b.example", payload={"x": 1}, dedupe_key="k1")
    assert isinstance(first, int) and again is None
    assert [e.id for e in outbox.list_entries(core.catalog)] == [first]


def test_each_entry_is_claimed_by_one_dispatcher(core: Core) -> None:
    ids = {outbox.enqueue(core.catalog, tenant_id=None, kind="alert",
                          target="mail:ops@example.com", payload={"n": n}) for n in range(30)}
    claimed: dict[str, list[int]] = {}

    def grab(holder: str) -> None:
        claimed[holder] = [e.id for e in outbox.claim(core.catalog, holder, 60, limit=30)]

    threads = [threading.Thread(target=grab, args=(f"node-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for got in claimed.values() for i in got]
    assert sorted(every) == sorted(ids)  # all claimed, none twice
    assert outbox.claim(core.catalog, "late", 60) == []


def test_an_expired_claim_passes_to_another_dispatcher(core: Core) -> None:
    oid = outbox.enqueue(core.catalog, tenant_id=None, kind="alert",
                         target="mail:ops@example.com", payload={})
    [item] = outbox.claim(core.catalog, "dead-node", 60)
    assert outbox.claim(core.catalog, "other", 60) == []
    with core.catalog.write() as conn:
        conn.execute(update(notify_outbox).where(notify_outbox.c.id == oid).values(
            lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    [again] = outbox.claim(core.catalog, "other", 60)
    assert again.id == oid
    assert outbox.finish(core.catalog, core.config.notify, item, "dead-node", ok=True,
                         status=200, error=None, duration_ms=1) is None  # claim lost


def test_a_delivered_webhook_is_signed_and_delivered_once(
        core: Core, tenant: admin.Tenant, listener: HookListener) -> None:
    new = webhooks.add_endpoint(core, "acme", listener.url)
    oid = outbox.enqueue(core.catalog, tenant_id=tenant.id, kind="file.uploaded",
                         target=f"webhook:{new.endpoint.id}", payload={"path": "/a"})
    assert drain(Dispatcher(core.config, core), oid).state == "delivered"
    [got] = listener.requests
    body = Webhook(new.secret).verify(got.body, got.headers)
    assert body["type"] == "file.uploaded" and body["data"] == {"path": "/a"}
    assert got.headers["webhook-id"] == f"msg_{oid}"
    assert [a["status"] for a in outbox.attempts_of(core.catalog, oid)] == [204]


def test_failures_are_retried_then_dead_lettered_and_audited(
        fast: Core, tenant: admin.Tenant, listener: HookListener) -> None:
    core = fast
    listener.status = 500
    new = webhooks.add_endpoint(core, "acme", listener.url)
    oid = outbox.enqueue(core.catalog, tenant_id=tenant.id, kind="file.uploaded",
                         target=f"webhook:{new.endpoint.id}", payload={})
    item = drain(Dispatcher(core.config, core), oid)
    assert (item.state, item.attempts) == ("dead", 3)
    assert item.last_error == "HTTP 500 (not accepted)"
    assert [a["status"] for a in outbox.attempts_of(core.catalog, oid)] == [500, 500, 500]
    assert {r.headers["webhook-id"] for r in listener.requests} == {f"msg_{oid}"}
    core.audit.flush()
    with core.catalog.read() as conn:
        dead = conn.execute(select(audit_events).where(
            audit_events.c.action == "notify-dead")).all()
    assert len(dead) == 1 and dead[0].tenant == "acme" and str(oid) in dead[0].reason


def test_a_removed_endpoint_dead_letters_at_once(core: Core, tenant: admin.Tenant,
                                                 listener: HookListener) -> None:
    new = webhooks.add_endpoint(core, "acme", listener.url)
    oid = outbox.enqueue(core.catalog, tenant_id=tenant.id, kind="file.uploaded",
                         target=f"webhook:{new.endpoint.id}", payload={})
    webhooks.remove_endpoint(core, new.endpoint.id)
    item = drain(Dispatcher(core.config, core), oid)
    assert (item.state, item.attempts, item.last_error) == ("dead", 1, "webhook endpoint removed")
    assert listener.requests == []


def test_plain_http_to_another_host_is_refused_and_audited(core: Core,
                                                           tenant: admin.Tenant) -> None:
    with pytest.raises(webhooks.registry.UnsafeURL):
        webhooks.add_endpoint(core, "acme", "http://partner.example.com/hook")
    with core.catalog.read() as conn:
        refused = conn.execute(select(audit_events.c.result).where(
            audit_events.c.action == "webhook-add")).scalars().all()
    assert refused == ["denied"]


def test_the_watcher_queues_matching_events_from_the_rule_on(
        core: Core, session, listener: HookListener) -> None:  # type: ignore[no-untyped-def]
    hook = webhooks.add_endpoint(core, "acme", listener.url).endpoint
    session.mkdir("/Drop")
    session.mkdir("/other")
    session.write_file("/Drop/before.csv", b"old")  # before the rule: not notified
    events.add_rule(core, "acme", "/drop", ["upload", "delete"], hook.id)
    session.write_file("/other/x.csv", b"elsewhere")
    session.write_file("/DROP/new.csv", b"a,b\n")  # the tenant ignores case
    session.delete("/Drop/before.csv")
    core.audit.flush()
    assert take_lease(core.catalog, "event-watcher", "me", 30)
    assert not take_lease(core.catalog, "event-watcher", "another node", 30)
    watch_once(core.catalog)
    watch_once(core.catalog)  # nothing new: nothing queued twice
    items = sorted(outbox.list_entries(core.catalog), key=lambda e: e.id)
    assert [(e.kind, e.payload["path"]) for e in items] == [
        ("file.uploaded", "/DROP/new.csv"), ("file.deleted", "/Drop/before.csv")]
    data = items[0].payload
    assert data["size"] == 4 and data["protocol"] == "test" and data["account"] == "alice@acme"
    assert data["content_hmac"] == session.stat("/Drop/new.csv").content_mac


def test_a_rename_into_place_is_the_upload_event(
        core: Core, session, listener: HookListener) -> None:  # type: ignore[no-untyped-def]
    hook = webhooks.add_endpoint(core, "acme", listener.url).endpoint
    session.mkdir("/drop")
    session.mkdir("/other")
    events.add_rule(core, "acme", "/drop", ["upload"], hook.id)
    session.write_file("/drop/big.csv.filepart", b"1,2,3\n")  # WinSCP's temporary name
    session.move("/drop/big.csv.filepart", "/drop/big.csv")
    session.write_file("/other/y.csv", b"yy")
    session.move("/other/y.csv", "/drop/y.csv")  # moved in from outside
    session.move("/drop/y.csv", "/drop/z.csv")  # renamed within: not a new upload
    core.audit.flush()
    watch_once(core.catalog, core.config.notify.temporary_suffixes)
    items = sorted(outbox.list_entries(core.catalog), key=lambda e: e.id)
    assert [(e.kind, e.payload["path"], e.payload["size"]) for e in items] == [
        ("file.uploaded", "/drop/big.csv", 6), ("file.uploaded", "/drop/y.csv", None)]
    assert items[0].payload["content_hmac"] == session.stat("/drop/big.csv").content_mac


def test_finished_deliveries_are_forgotten_after_keep_days(core: Core) -> None:
    from gateway.notify.job import EventWatcher

    ids = [outbox.enqueue(core.catalog, tenant_id=None, kind="alert",
                          target="mail:ops@example.com", payload={}) for _ in range(3)]
    old = datetime.now(UTC) - timedelta(days=31)
    with core.catalog.write() as conn:
        conn.execute(update(notify_outbox).where(notify_outbox.c.id.in_(ids[:2])).values(
            state="delivered", done_at=old))
        conn.execute(update(notify_outbox).where(notify_outbox.c.id == ids[2]).values(
            state="dead", done_at=datetime.now(UTC)))
    outbox.enqueue(core.catalog, tenant_id=None, kind="alert", target="mail:ops@example.com",
                   payload={})  # pending: kept whatever its age
    assert EventWatcher(core.config, core).run_once() == 0
    left = outbox.list_entries(core.catalog)
    assert len(left) == 2 and ids[2] in [e.id for e in left]
    core.audit.flush()
    with core.catalog.read() as conn:
        reasons = conn.execute(select(audit_events.c.reason).where(
            audit_events.c.action == "notify-prune")).scalars().all()
    assert reasons and reasons[0].startswith("2 finished")


def test_secrets_survive_a_tenant_key_rotation_and_operator_endpoints_sign_too(
        core: Core, tenant: admin.Tenant, listener: HookListener) -> None:
    mine = webhooks.add_endpoint(core, "acme", listener.url)
    ops = webhooks.add_endpoint(core, None, listener.url, ["alert"])
    core.keyring.rotate_tenant(tenant.id)
    first = outbox.enqueue(core.catalog, tenant_id=tenant.id, kind="file.uploaded",
                           target=f"webhook:{mine.endpoint.id}", payload={"n": 1})
    second = outbox.enqueue(core.catalog, tenant_id=None, kind="alert",
                            target=f"webhook:{ops.endpoint.id}", payload={"n": 2})
    refused = outbox.enqueue(core.catalog, tenant_id=None, kind="file.deleted",
                             target=f"webhook:{ops.endpoint.id}", payload={"n": 3})
    dispatcher = Dispatcher(core.config, core)
    assert [drain(dispatcher, i).state for i in (first, second, refused)] == [
        "delivered", "delivered", "dead"]  # the operator endpoint takes alerts only
    by_n = {Webhook(s).verify(r.body, r.headers)["data"]["n"]
            for r, s in zip(sorted(listener.requests, key=lambda r: r.headers["webhook-id"]),
                            (mine.secret, ops.secret), strict=True)}
    assert by_n == {1, 2}
    with core.catalog.read() as conn:
        stored = conn.execute(select(webhooks.webhook_endpoints.c.secret_sealed)).scalars().all()
    assert not [s for s in stored if mine.secret[6:] in s or ops.secret[6:] in s]


def test_watchers_on_several_nodes_queue_each_event_once(
        core: Core, session, listener: HookListener) -> None:  # type: ignore[no-untyped-def]
    """Without the lease (say it expired mid-round): cursor and dedupe keys still hold."""
    hook = webhooks.add_endpoint(core, "acme", listener.url).endpoint
    session.mkdir("/drop")
    events.add_rule(core, "acme", "/drop", ["upload"], hook.id)
    for i in range(20):
        session.write_file(f"/drop/f{i}.csv", b"x")
    core.audit.flush()
    errors: list[BaseException] = []

    def node() -> None:
        try:
            watch_once(core.catalog)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    paths = sorted(e.payload["path"] for e in outbox.list_entries(core.catalog))
    assert paths == sorted(f"/drop/f{i}.csv" for i in range(20))


def test_https_receivers_are_verified_against_the_configured_ca(
        core: Core, tenant: admin.Tenant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import ssl

    from tests.notify.smtpd import make_ca_and_server_cert

    ca, cert, key = make_ca_and_server_cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    hook = HookListener().start(tls)
    try:
        new = webhooks.add_endpoint(core, "acme", hook.url)
        dispatcher = Dispatcher(core.config, core)
        untrusted = outbox.enqueue(core.catalog, tenant_id=tenant.id, kind="file.uploaded",
                                   target=f"webhook:{new.endpoint.id}", payload={})
        dispatcher.run_once()  # system CAs: the test CA is not trusted
        item = outbox.get_entry(core.catalog, untrusted)
        assert item.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in item.last_error
        core.config.notify.webhook_ca_file = str(ca)
        trusted = outbox.enqueue(core.catalog, tenant_id=tenant.id, kind="file.uploaded",
                                 target=f"webhook:{new.endpoint.id}", payload={"ok": 1})
        assert drain(dispatcher, trusted).state == "delivered"
        [got] = hook.requests
        assert Webhook(new.secret).verify(got.body, got.headers)["data"] == {"ok": 1}
    finally:
        hook.stop()


def test_a_rule_for_kinds_its_webhook_does_not_take_is_refused(
        core: Core, tenant: admin.Tenant) -> None:
    from gateway.errors import ConfigError

    hook = webhooks.add_endpoint(core, "acme", "https://hooks.example/in",
                                 ["file.deleted"]).endpoint
    with pytest.raises(ConfigError, match=r"does not take file\.uploaded"):
        events.add_rule(core, "acme", "/", ["upload", "delete"], hook.id)
    assert events.add_rule(core, "acme", "/", ["delete"], hook.id).events == ["delete"]
    with core.catalog.read() as conn:
        results = conn.execute(select(audit_events.c.result).where(
            audit_events.c.action == "event-rule-add").order_by(audit_events.c.id)).all()
    assert [r.result for r in results] == ["denied", "ok"]
