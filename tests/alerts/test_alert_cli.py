"""``alert rule list|set|test`` and ``alert list`` as real commands: overrides per tenant,
one-line errors, a dry run that stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_runner import CliEnv

from gateway.audit import AuditEvent
from gateway.config import load_config
from gateway.core import Core


def test_rule_commands(tmp_path: Path) -> None:
    gw = CliEnv(tmp_path)
    gw.run("init")
    gw.run("tenant", "create", "acme")
    rules = {r["rule"]: r for r in gw.json("alert", "rule", "list")}
    assert rules["failed_logins_account"]["params"] == {"enabled": True, "threshold": 10,
                                                        "window_s": 300}
    assert not rules["admin_outside_window"]["params"]["enabled"]
    set_ = gw.json("alert", "rule", "set", "failed_logins_account", "threshold=3",
                   "--tenant", "ACME")
    assert set_["params"]["threshold"] == 3 and set_["overridden"] == ["threshold"]
    table = gw.run("alert", "rule", "list", "--tenant", "acme").stdout
    assert "threshold=3*" in table
    for bad, word in ((["no_such_rule", "x=1"], "no alert rule"),
                      (["mass_download", "max_files=-1"], "whole number"),
                      (["mass_download", "bogus=1"], "no parameter"),
                      (["admin_outside_window", "window=25:00-01:00"], "HH:MM-HH:MM")):
        p = gw.run("alert", "rule", "set", *bad, "--tenant", "acme", ok=False)
        assert p.returncode != 0 and word in p.stderr and len(p.stderr.splitlines()) == 1
    p = gw.run("alert", "rule", "set", "mass_download", "x=1", "--tenant", "nope", ok=False)
    assert "no tenant 'nope'" in p.stderr
    gw.run("alert", "rule", "set", "failed_logins_account", "--reset", "--tenant", "acme")
    rules = {r["rule"]: r for r in gw.json("alert", "rule", "list", "--tenant", "acme")}
    assert rules["failed_logins_account"]["params"]["threshold"] == 10

    t0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with Core.open(load_config(gw.config), audit_log="off") as core:
        tid = core.catalog.engine.connect().exec_driver_sql(
            "SELECT id FROM tenants WHERE name = 'acme'").scalar()
        core.audit.write_now([AuditEvent(
            action="login", protocol="webdav", result="denied", chain=tid, tenant="acme",
            user="eve\x1b[31m", remote_addr="203.0.113.9", ts=t0 + timedelta(seconds=i))
            for i in range(25)])
    would = gw.json("alert", "rule", "test", "failed_logins_account", "--since",
                    "2026-11-30", "--until", "2026-12-01")
    assert [(a["rule"], a["subject"]) for a in would] == [("failed_logins_account",
                                                           "eve\x1b[31m@acme")]
    shown = gw.run("alert", "rule", "test", "failed_logins_address", "--since",
                   "2026-11-30T07:00", "--until", "2026-11-30T09:00").stdout
    assert "203.0.113.9" in shown and "\x1b" not in shown
    assert "would fire nothing" in gw.run("alert", "rule", "test", "failed_logins_account",
                                          "--since", "2026-12-01").stdout
    assert gw.json("alert", "list") == []  # a test stores nothing
    assert "no alerts fired" in gw.run("alert", "list").stdout


def test_alerts_configuration_is_checked(tmp_path: Path) -> None:
    for extra, word in (('sinks = ["log", "pager"]', "alerts.sinks"),
                        ("interval_ms = 5", "alerts.interval_ms"),
                        ('admin_outside_window_window = "9-17"', "HH:MM-HH:MM"),
                        ("mass_download_max_files = 0", "mass_download_max_files")):
        gw = CliEnv(tmp_path, extra=f"[alerts]\n{extra}\n")
        p = gw.run("alert", "rule", "list", ok=False)
        assert p.returncode != 0 and word in p.stderr and len(p.stderr.splitlines()) == 1
    sinks = '"log", "webhook:soc", "mail:soc@acme.example"'
    gw = CliEnv(tmp_path, extra=f"[alerts]\nsinks = [{sinks}]\n")
    gw.run("init")
    assert gw.json("alert", "list") == []
