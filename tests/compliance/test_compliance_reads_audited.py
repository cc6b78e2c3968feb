"""Reads of personal data through the compliance commands are audited: who ran a report or
a data-subject search, of which tenant, with which filters by name, never their values."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import CliEnv


def test_reports_and_subject_search_leave_events_without_the_values(tmp_path: Path) -> None:
    gw = CliEnv(tmp_path)
    gw.run("init")
    gw.run("tenant", "create", "acme")
    gw.run("user", "create", "janedoe@acme", "--generate-password")
    gw.run("report", "activity", "--tenant", "acme", "--user", "janedoe", "--format", "csv")
    gw.run("report", "logins", "--tenant", "acme", "--format", "json")
    gw.run("subject", "find", "--tenant", "acme", "--text-in-names", "janedoe")
    events = json.loads(gw.run("audit", "query", "--tenant", "acme", "--format",
                               "json").stdout)
    reads = {e["action"]: e for e in events
             if e["action"] in ("report-activity", "report-logins", "subject-find")}
    assert set(reads) == {"report-activity", "report-logins", "subject-find"}
    assert all(e["user"] == "admin" and e["protocol"] == "admin" for e in reads.values())
    assert "filters: user" in reads["report-activity"]["reason"]
    assert "text_in_names" in reads["subject-find"]["reason"]
    assert not any("janedoe" in (e["reason"] or "") for e in reads.values())
