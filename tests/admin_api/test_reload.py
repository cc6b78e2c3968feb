"""``serve`` reload (SIGHUP): the admin API's new generation joins its port, the old one
stops, and calls keep being answered (the later tests run against the new generation).

Known limit: both generations listen with SO_REUSEPORT, so a connection the kernel queued
at the old generation's socket just before it closes is dropped during its TLS handshake
(seen in 2 of 5 runs: at most one per reload). A client's retry is answered; every call
here is answered after at most one retry, and no call is ever answered with an error."""

from __future__ import annotations

import json
import signal
import time

import requests

from tests.admin_api.conftest import Api


def _pid(api: Api) -> int:
    state = json.loads((api.config.parent / "var" / "serve.pid").read_text())
    return state["front_ends"]["admin_api"]["pid"]


def test_reload_keeps_answering(api: Api) -> None:
    assert api.log is not None
    before = _pid(api)
    api.proc.send_signal(signal.SIGHUP)
    failures = dropped = 0
    deadline = time.monotonic() + 120
    while "reloaded" not in api.log.read_text() and time.monotonic() < deadline:
        try:
            r = api.call("GET", "/v1/tenants/acme", "read")
        except requests.ConnectionError:  # dropped in the switch (see above): retry once
            dropped += 1
            r = api.call("GET", "/v1/tenants/acme", "read")
        failures += r.status_code != 200
        time.sleep(0.1)
    assert "reloaded" in api.log.read_text(), api.log.read_text()
    assert failures == 0 and dropped <= 2, (failures, dropped)
    assert _pid(api) != before
    assert api.call("GET", "/v1/tenants/acme", "read").json()["name"] == "acme"
