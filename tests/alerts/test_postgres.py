"""The evaluator inside ``serve`` on a PostgreSQL catalog: wrong passwords over WebDAV
(curl) fire one alert, listed by `alert list` and audited."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sftp.conftest import need

from alerts.harness import PW, start
from gateway import admin
from gateway.core import Core


def cast(core: Core) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "pg", password=PW)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_failed_logins_fire_on_postgresql(db_url: str, tmp_path: Path) -> None:
    agw = start(tmp_path / "gw", cast, catalog=db_url)
    try:
        argv = [need("curl"), "-k", "-sS", "-u", "pg@acme:wrong", "-w", "%{http_code}\\n"]
        for _ in range(12):
            argv += ["-o", "/dev/null", agw.gw.url + "/"]
        assert subprocess.run(argv, capture_output=True, text=True,
                              timeout=120).stdout.split() == ["401"] * 12
        agw.settle()
        listed = json.loads(agw.cli("alert", "list", "--tenant", "acme", "--json").stdout)
        assert [(a["rule"], a["subject"]) for a in listed
                if a["rule"] == "failed_logins_account"] == [("failed_logins_account",
                                                              "pg@acme")]
        assert any(e["reason"].startswith("failed_logins_account: ")
                   for e in agw.alert_events())
    finally:
        agw.close()
