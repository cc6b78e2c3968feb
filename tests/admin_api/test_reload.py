"""``serve`` reload (SIGHUP): the admin API's new generation joins its port, the old one
stops, and calls keep being answered (the later tests run against the new generation)."""

from __future__ import annotations

import json
import signal
import time

from tests.admin_api.conftest import Api


def _pid(api: Api) -> int:
    state = json.loads((api.config.parent / "var" / "serve.pid").read_text())
    return state["front_ends"]["admin_api"]["pid"]


def test_reload_keeps_answering(api: Api) -> None:
    assert api.log is not None
    before = _pid(api)
    api.proc.send_signal(signal.SIGHUP)
    failures = 0
    deadline = time.monotonic() + 120
    while "reloaded" not in api.log.read_text() and time.monotonic() < deadline:
        r = api.call("GET", "/v1/tenants/acme", "read")
        failures += r.status_code != 200
        time.sleep(0.1)
    assert "reloaded" in api.log.read_text(), api.log.read_text()
    assert failures == 0
    assert _pid(api) != before
    assert api.call("GET", "/v1/tenants/acme", "read").json()["name"] == "acme"
