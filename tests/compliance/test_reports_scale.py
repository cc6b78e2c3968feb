"""A year of a busy tenant: 1,000,000 audit events. Every report format streams them in
bounded memory (peak RSS of the report process under 200 MiB) and the totals equal an
independent count of the generated trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_runner import CLI, CliEnv, clean_env
from peak_rss import run_measured
from reports_trail import Trail, write_fast_sqlite
from test_reports import _check_totals

#: after the made-up trail (2025) and before the reports' own audit events
UNTIL = "2026-01-01"

N = 1_000_000
BUDGET = 200 * 1024 * 1024
YEAR = Trail(N, days=365)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[CliEnv, dict]:
    gw = CliEnv(tmp_path_factory.mktemp("report-1m"))
    gw.run("init")
    return gw, write_fast_sqlite(gw.base / "var" / "catalog.db", YEAR)


def _report(gw: CliEnv, *args: str) -> int:
    code, rss, err = run_measured([*CLI, "report", "activity", "--tenant", "acme", "--until", UNTIL,
                                  *args],
                                  env=clean_env(LUMANOX_CONFIG=str(gw.config)), cwd=gw.base)
    assert code == 0, err
    print(f"report {' '.join(args)}: peak RSS {rss / 2**20:.0f} MiB", file=sys.stderr)
    return rss


@pytest.mark.slow
def test_a_million_events_in_bounded_memory(big: tuple[CliEnv, dict]) -> None:
    big, expected = big
    out = big.base / "year.csv"
    assert _report(big, "--format", "csv", "--out", str(out)) < BUDGET
    with out.open() as f:
        lines = sum(1 for _ in f)
    assert lines == N + 1  # header + every event
    doc = big.base / "year.json"
    assert _report(big, "--format", "json", "--max-events", "0", "--out", str(doc)) < BUDGET
    report = json.loads(doc.read_text())
    _check_totals(report, expected)  # counted while the trail was generated
    assert report["chain"]["verified"] is False  # the fast trail has no valid MACs
    # html: the same totals and at most 1000 events (tests/compliance/test_reports.py)


def test_trail_generator_counts_are_independent(tmp_path: Path) -> None:
    gw = CliEnv(tmp_path)
    gw.run("init")
    small = Trail(240)
    counted = write_fast_sqlite(tmp_path / "var" / "catalog.db", small)
    assert counted == small.expected()
    assert counted["events"] == 240 and sum(counted["counts"]["action"].values()) == 240
