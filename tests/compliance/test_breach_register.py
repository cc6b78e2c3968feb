"""The breach register (GDPR Art. 33(5)) through the real CLI, on SQLite and PostgreSQL:
record (with a report attached) / list / show round-trip, audited in the tenant's chain."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import CliEnv


def test_record_list_show_round_trip_and_audit(tmp_path: Path, db_url: str) -> None:
    gw = CliEnv(tmp_path, db_url)
    gw.run("init")
    gw.run("tenant", "create", "acme")
    gw.run("tenant", "create", "other")
    report = tmp_path / "incident.json"
    gw.run("breach", "report", "--tenant", "acme", "--since", "2026-01-01",
           "--until", "2100-01-01", "--addresses", "127.0.0.2", "--out", str(report))
    assert json.loads(report.read_text())["tenant"]["name"] == "acme"
    assert report.stat().st_mode & 0o077 == 0  # personal data: owner only

    made = gw.json("breach", "record", "--tenant", "ACME", "--discovered",
                   "2026-12-01T08:30:00+01:00", "--nature", "stolen app password | used",
                   "--report", str(report), "--notified-authority", "2026-12-02T10:00",
                   "--measures", "app password revoked")
    other = gw.json("breach", "record", "--tenant", "other", "--discovered", "2026-11-01",
                    "--nature", "lost laptop")
    assert made["discovered_at"] == "2026-12-01T07:30:00+00:00"
    assert made["notification_deadline"] == "2026-12-04T07:30:00+00:00"  # 72 h later

    listed = gw.json("breach", "list")
    assert [b["id"] for b in listed] == [other["id"], made["id"]]  # by discovery
    assert [b["tenant"] for b in gw.json("breach", "list", "--tenant", "acme")] == ["acme"]
    shown = gw.json("breach", "show", str(made["id"]))
    assert shown["nature"] == "stolen app password | used"
    assert shown["measures"] == "app password revoked"
    assert shown["notified_authority_at"] == "2026-12-02T10:00:00+00:00"
    assert shown["notified_subjects_at"] is None
    assert shown["report"]["authority_form"]["contact_point"] == \
        "TO BE COMPLETED BY THE CONTROLLER"
    text = gw.run("breach", "show", str(made["id"])).stdout
    assert "notify authority by:   2026-12-04T07:30:00+00:00" in text

    events = gw.json("audit", "query", "--tenant", "acme", "--action", "breach-record")
    assert [e["path"] for e in events] == [f"breach/{made['id']}"]
    assert gw.json("audit", "query", "--tenant", "acme", "--action", "breach-report")
    assert gw.json("audit", "verify")["intact"]

    missing = gw.run("breach", "show", "999", ok=False)
    assert missing.returncode == 1 and "breach list" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    wrong = gw.run("breach", "record", "--tenant", "other", "--discovered", "2026-12-01",
                   "--nature", "x", "--report", str(report), ok=False)
    assert wrong.returncode != 0 and "not 'other'" in wrong.stderr
    assert len(gw.json("breach", "list")) == 2  # a refused record adds nothing
