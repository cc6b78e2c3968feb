"""The audit trail as a SIEM feed: events after a cursor, each exactly once per cursor the
client keeps, a long poll that answers as soon as an event arrives, CEF lines."""

from __future__ import annotations

import threading
import time

from tests.admin_api.conftest import Api
from tests.admin_api.test_routes import cli


def _feed(api: Api, cursor: str | None, **params: object) -> dict:  # type: ignore[type-arg]
    r = api.call("GET", "/v1/audit/events", "reports", params={
        **params, **({"cursor": cursor} if cursor else {})})
    assert r.status_code == 200, r.text
    return r.json()


def _drain(api: Api, cursor: str | None, **params: object) -> tuple[list[dict], str]:  # type: ignore[type-arg]
    got: list[dict] = []  # type: ignore[type-arg]
    while True:
        page = _feed(api, cursor, limit=50, **params)
        got += page["items"]
        cursor = page["cursor"]
        if page["next_cursor"] is None:
            return got, cursor


def test_feed_hands_out_every_event_once_and_long_polls(api: Api) -> None:
    everything, cursor = _drain(api, None)
    keys = [(e["chain"], e["seq"]) for e in everything]
    assert len(keys) == len(set(keys)) >= 5
    # the cursor kept: nothing repeats, and a new event comes exactly once
    cli(api, "tenant", "set", "beta", "--display-name", "Beta One")
    first, cursor = _drain(api, cursor, action="tenant-set")
    assert [e["tenant"] for e in first] == ["beta"]
    again, cursor = _drain(api, cursor, action="tenant-set")
    assert again == []
    # a long poll waits for the next event and returns it, once
    out: dict = {}  # type: ignore[type-arg]

    def poll() -> None:
        out["page"] = _feed(api, cursor, action="tenant-set", wait=30)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1)
    assert t.is_alive(), "the long poll answered before any event"
    cli(api, "tenant", "set", "beta", "--display-name", "Beta Two")
    t.join(40)
    items = out["page"]["items"]
    assert [e["action"] for e in items] == ["tenant-set"] and items[0]["seq"] > first[0]["seq"]
    assert _feed(api, out["page"]["cursor"], action="tenant-set")["items"] == []
    assert not any((e["chain"], e["seq"]) in set(keys) for e in first + items)


def test_feed_in_cef_for_a_tenant_token(api: Api) -> None:
    r = api.call("GET", "/v1/audit/events", "acme-all", params={"format": "cef", "limit": 5})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert len(lines) == 5 and all(line.startswith("CEF:0|") for line in lines)
    assert all("cs1=acme" in line for line in lines)
    nxt = api.call("GET", "/v1/audit/events", "acme-all",
                   params={"format": "cef", "limit": 5, "cursor": r.headers["X-Next-Cursor"]})
    assert not set(nxt.text.splitlines()) & set(lines)
    bad = api.call("GET", "/v1/audit/events", "reports", params={"wait": 61})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_parameter"
