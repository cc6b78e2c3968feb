"""Activity reports over a big audit trail: seconds and peak RSS per format.

    .venv/bin/python bench/bench_reports.py [--events 1000000] [--chained]

Builds a SQLite catalog with ``--events`` events of one tenant over a year (the tests'
``Trail``): by default with plain ``executemany`` (chain fields invalid, so the chain check
stops at the first event), with ``--chained`` through the audit log's own append path
(valid MACs and a checkpoint: the check then walks the whole chain, as in production).
Then runs ``lumanox-gateway report activity`` in csv (every event), json (totals only,
``--max-events 0``) and html (first 1000 events) as subprocesses and prints each one's
wall time and peak RSS (``os.wait4``), and the events per second of the csv run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "compliance"), str(ROOT)]

from cli_runner import CLI, CliEnv, clean_env  # noqa: E402
from peak_rss import run_measured  # noqa: E402
from reports_trail import Trail, write_chained, write_fast_sqlite  # noqa: E402

from gateway.config import load_config  # noqa: E402
from gateway.core import Core  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--chained", action="store_true",
                    help="valid MACs through the audit log (slow to build)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmx-bench-reports-") as tmp:
        gw = CliEnv(Path(tmp))
        gw.run("init")
        trail = Trail(args.events, days=365)
        started = time.perf_counter()
        if args.chained:
            with Core.open(load_config(gw.config), audit_log="off") as core:
                write_chained(core, trail)
        else:
            write_fast_sqlite(gw.base / "var" / "catalog.db", trail)
        built = time.perf_counter() - started
        print(f"trail: {args.events} events ({'chained' if args.chained else 'fast'}) built "
              f"in {built:.1f} s")
        print(f"{'format':<28} {'seconds':>8} {'peak RSS':>10}")
        runs = (("csv (all events)", ["--format", "csv"]),
                ("json (totals, 0 events)", ["--format", "json", "--max-events", "0"]),
                ("html (1000 events)", ["--format", "html"]),
                ("html --no-verify", ["--format", "html", "--no-verify"]))
        for label, extra in runs:
            out = gw.base / f"out-{len(label)}"
            t = time.perf_counter()
            code, rss, err = run_measured(
                [*CLI, "report", "activity", "--tenant", "acme", *extra, "--out", str(out)],
                env=clean_env(LUMANOX_CONFIG=str(gw.config)), cwd=gw.base, timeout=3600)
            took = time.perf_counter() - t
            assert code == 0, err
            rate = f"  {args.events / took:,.0f} events/s" if label.startswith("csv") else ""
            print(f"{label:<28} {took:>8.1f} {rss / 2**20:>7.0f} MiB{rate}")


if __name__ == "__main__":
    main()
