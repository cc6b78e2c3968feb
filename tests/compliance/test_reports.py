"""``report activity|logins`` over a made-up trail, on SQLite and PostgreSQL: totals equal
an independent count, filters narrow exactly, keyset pages lose no tie, a tampered event
makes the period NOT verified, login reasons are split, progress only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import CLI, CliEnv, clean_env
from reports_trail import Trail, write_chained
from sqlalchemy import select as sql_select, update

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.compliance.reports.events import iter_events
from gateway.compliance.reports.logins import parse_reason, second_factor
from gateway.compliance.reports.scope import make_scope
from gateway.config import load_config
from gateway.core import Core

#: after the made-up trail (2025) and before the reports' own audit events
UNTIL = "2026-01-01"

ACME = Trail(1500, days=200)
OTHER = Trail(300, tenant="other", chain="other-chain", days=200)


@pytest.fixture
def gw(tmp_path: Path, db_url: str) -> CliEnv:
    env = CliEnv(tmp_path, db_url)
    env.run("init")
    with Core.open(load_config(env.config), audit_log="off") as core:
        write_chained(core, ACME)
        write_chained(core, OTHER)
    return env


def _by(rows: list[dict], key: str, measure: str = "events") -> dict:
    return {r[key]: r[measure] for r in rows}


def _check_totals(report: dict, want: dict) -> None:
    assert report["summary"]["events"] == want["events"]
    assert report["summary"]["failed"] == want["failed"]
    for key, group in (("user", "by_user"), ("protocol", "by_protocol"),
                       ("action", "by_action"), ("day", "by_day")):
        assert _by(report[group], key) == dict(want["counts"][key]), group
    assert {k: v for k, v in _by(report["by_protocol"], "protocol", "upload_bytes").items()
            if v} == dict(want["upload"])
    assert {k: v for k, v in _by(report["by_protocol"], "protocol", "download_bytes").items()
            if v} == dict(want["download"])
    assert report["summary"]["upload_bytes"] == sum(want["upload"].values())


def test_activity_totals_equal_an_independent_count(gw: CliEnv) -> None:
    report = gw.json("report", "activity", "--tenant", "ACME", "--until", UNTIL)  # canonical: acme
    _check_totals(report, ACME.expected())
    assert report["chain"]["verified"] is True and report["chain"]["status"] == "VERIFIED INTACT"
    events = report["events"]
    assert report["events_listed"] == len(events) == ACME.n
    assert sorted(e["seq"] for e in events) == list(range(1, ACME.n + 1))
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert {e["tenant"] for e in events} == {"acme"}  # the other tenant stays out
    assert report["failed_logins"]["total"] == ACME.expected(action="login")["failed"]
    assert len(report["failed_logins"]["rows"]) == min(100, report["failed_logins"]["total"])


def test_filters_narrow_exactly(gw: CliEnv) -> None:
    since, until = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC)
    report = gw.json("report", "activity", "--tenant", "acme", "--user", "bob@acme",
                     "--protocol", "sftp", "--since", "2025-02-01", "--until", "2025-05-01")
    want = ACME.expected(lambda e: since <= e["ts"] < until, user="bob", protocol="sftp")
    assert want["events"] > 10
    _check_totals(report, want)
    assert len(report["events"]) == want["events"]
    path = "/projects/p6"
    report = gw.json("report", "activity", "--tenant", "acme", "--until", UNTIL,
                     "--path", path + "/",
                     "--action", "write", "--max-events", "0")
    want = ACME.expected(lambda e: (e["path"] or "").startswith(path + "/"), action="write")
    assert want["events"] > 0
    _check_totals(report, want)
    assert report["events"] == []  # --max-events 0: totals only


def test_csv_streams_every_event_and_escapes_controls(gw: CliEnv) -> None:
    out = gw.base / "acme.csv"
    gw.run("report", "activity", "--tenant", "acme", "--until", UNTIL,
           "--format", "csv", "--out", str(out))
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq,ts,tenant,user")
    assert len(lines) == ACME.n + 1
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_keyset_pages_keep_ties_and_order(gw: CliEnv) -> None:
    cfg = load_config(gw.config)
    catalog = Catalog(cfg.catalog_url)
    try:
        scope = make_scope(catalog, "acme")
        paged = [e["seq"] for e in iter_events(catalog, scope, batch=7)]
        with catalog.read() as conn:
            direct = list(conn.execute(sql_select(audit_events.c.seq).where(
                audit_events.c.tenant == "acme").order_by(audit_events.c.ts,
                                                           audit_events.c.id)).scalars())
        assert paged == direct and len(paged) == ACME.n
        limited = [e["seq"] for e in iter_events(catalog, scope, batch=7, limit=30)]
        assert limited == direct[:30]
    finally:
        catalog.dispose()


def test_tampered_event_makes_the_period_not_verified(gw: CliEnv) -> None:
    html = gw.base / "acme.html"
    gw.run("report", "activity", "--tenant", "acme", "--until", UNTIL,
           "--format", "html", "--out", str(html))
    text = html.read_text()
    assert 'class="ok" id="chain"' in text and "VERIFIED INTACT" in text
    assert "NOT VERIFIED" not in text
    assert f"Only the first 1000 of {ACME.n} events" in text  # the default cut, said
    cfg = load_config(gw.config)
    catalog = Catalog(cfg.catalog_url)
    try:
        with catalog.write() as conn:
            conn.execute(update(audit_events).where(
                audit_events.c.chain == ACME.chain, audit_events.c.seq == 700)
                .values(duration_ms=audit_events.c.duration_ms + 1))
    finally:
        catalog.dispose()
    gw.run("report", "activity", "--tenant", "acme", "--until", UNTIL,
           "--format", "html", "--out", str(html))
    text = html.read_text()
    assert 'class="bad" id="chain"' in text and "NOT VERIFIED" in text
    assert "event 700: modified" in text
    assert "VERIFIED INTACT" not in text
    csv_run = gw.run("report", "activity", "--tenant", "acme", "--until", UNTIL, "--format", "csv")
    assert "NOT VERIFIED" in csv_run.stderr and "event 700: modified" in csv_run.stderr
    report = gw.json("report", "activity", "--tenant", "acme", "--until", UNTIL,
                     "--max-events", "0")
    assert report["chain"]["verified"] is False
    assert report["chain"]["problems"][0]["seq"] == 700
    # the other tenant's chain was not touched: its period still verifies
    assert gw.json("report", "activity", "--tenant", "other", "--until", UNTIL, "--max-events", "0"
                   )["chain"]["verified"] is True
    skipped = gw.json("report", "activity", "--tenant", "acme", "--until", UNTIL, "--no-verify",
                      "--max-events", "0")
    assert skipped["chain"]["status"] == "NOT CHECKED"


def test_logins_report(gw: CliEnv) -> None:
    report = gw.json("report", "logins", "--tenant", "acme", "--user", "bob")
    want = ACME.expected(action="login", user="bob")
    assert report["summary"]["attempts"] == len(report["logins"]) == want["events"]
    assert report["summary"]["failed"] == want["failed"]
    row = report["logins"][0]
    assert row["method"] == "password" and row["client"] == "SSH-2.0-test"
    assert {r["success"] for r in report["logins"]} == {True, False}
    csv_text = gw.run("report", "logins", "--tenant", "acme", "--format", "csv").stdout
    assert len(csv_text.splitlines()) == ACME.expected(action="login")["events"] + 1
    assert "logins of tenant acme" in gw.run("report", "logins", "--tenant", "acme").stdout
    html = gw.run("report", "logins", "--tenant", "acme", "--user", "bob", "--format",
                  "html", "--max-events", "5").stdout
    assert html.count("<tr") - html.count("<tr><th>") == 5 + len(report["by_user"]) + 1
    assert f"Only the first 5 of {want['events']} login events" in html


def test_activity_table_for_people(gw: CliEnv) -> None:
    text = gw.run("report", "activity", "--tenant", "acme", "--until", UNTIL,
                  "--max-events", "3").stdout
    assert "audit chain: VERIFIED INTACT" in text
    for title in ("per user", "per protocol", "per action", "per day", "top paths",
                  "\nfailed logins\n", "admin actions: none"):
        assert title in text, title
    assert f"events (first 3 of {ACME.n})" in text


def test_login_reason_is_split_as_the_gate_writes_it() -> None:
    ok_totp = ("method=keyboard-interactive; second-factor: user has confirmed TOTP; "
               "sufficient: key + totp; client=SSH-2.0-OpenSSH_9.2p1; x")
    parts = parse_reason(ok_totp)
    assert parts["method"] == "keyboard-interactive"
    assert parts["client"] == "SSH-2.0-OpenSSH_9.2p1; x"
    assert second_factor(parts["detail"]) == "totp"
    plain = parse_reason("method=password; second-factor: second factor off; sufficient: "
                         "one WebDAV credential is enough")
    assert plain["client"] is None and second_factor(plain["detail"]) is None
    assert parse_reason("client=curl/8") == {"method": None, "client": "curl/8",
                                             "detail": None}
    assert parse_reason(None) == {"method": None, "client": None, "detail": None}


def test_refusals_are_one_line(gw: CliEnv) -> None:
    p = gw.run("report", "activity", "--tenant", "nobody", ok=False)
    assert p.returncode == 1 and "no tenant 'nobody'" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = gw.run("report", "activity", "--tenant", "acme", "--since", "2025-05-01",
               "--until", "2025-04-01", ok=False)
    assert "the period is empty" in p.stderr
    p = gw.run("report", "activity", "--tenant", "acme", "--path", "/a/../b", ok=False)
    assert "--path" in p.stderr and "Traceback" not in p.stderr


def _run_on_pty(gw: CliEnv, *args: str) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; everything it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*CLI, *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, cwd=gw.base,
                            env=clean_env(LUMANOX_CONFIG=str(gw.config), TERM="xterm",
                                          COLUMNS="100"))
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, out
    return out.decode("utf-8", "replace")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_progress_only_on_a_terminal(gw: CliEnv) -> None:
    out = gw.base / "r.csv"
    drawn = _run_on_pty(gw, "report", "activity", "--tenant", "acme", "--until", UNTIL,
                        "--format", "csv",
                        "--max-events", "all", "--out", str(out))
    assert "\x1b[" in drawn and "events" in drawn  # rich's bar, on the terminal
    piped = gw.run("report", "activity", "--tenant", "acme", "--until", UNTIL, "--format", "csv",
                   "--out", str(out))
    assert piped.stderr.strip() == f"report written: {out}"
    assert "\x1b" not in piped.stdout + piped.stderr
    assert json.loads(gw.run("report", "activity", "--tenant", "acme", "--until", UNTIL, "--json",
                             "--max-events", "1").stdout)["events_listed"] == 1
