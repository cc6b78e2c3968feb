"""Breach report and SIEM export over a large audit trail: time and memory.

    .venv/bin/python bench/bench_breach.py [--events 50000] [--factor 4]

Fills a SQLite catalog with ``--events`` read events of one tenant (50 users, 200
addresses, 1 % of them from the intruder's 203.0.113.7), builds the breach report for the
intruder's address, and exports the trail as CEF to /dev/null; then the same with
``--factor`` times the events. Prints events/s and the peak of Python allocations
(tracemalloc) of each; the peak ratio large/small near 1 says memory does not grow with
the window (the report's summary grows with the involved files only: 1 % here).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway import admin  # noqa: E402
from gateway.audit import AuditEvent  # noqa: E402
from gateway.auditv2.export import export_stream  # noqa: E402
from gateway.compliance.breach.indicators import Indicators  # noqa: E402
from gateway.compliance.breach.report import build_report  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.core import Core  # noqa: E402
from gateway.keyring import create_master_key_file  # noqa: E402

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def fill(core: Core, chain: str, first: int, n: int) -> None:
    batch = []
    for i in range(first, first + n):
        intruder = i % 100 == 0
        batch.append(AuditEvent(
            action="read", protocol="webdav", chain=chain, tenant="acme",
            user="alice" if intruder else f"user{i % 50}",
            remote_addr="203.0.113.7" if intruder else f"10.0.{i % 200}.{i % 250 + 1}",
            path=f"/data/f{i % 20000}.bin", bytes=4096, result="ok",
            ts=T0 + timedelta(milliseconds=i)))
        if len(batch) == 5000:
            core.audit.write_now(batch)
            batch = []
    if batch:
        core.audit.write_now(batch)


def measure(core: Core, tmp: Path, label: str) -> dict[str, float]:
    ind = Indicators.parse(["203.0.113.7/32"], None)
    until = datetime(2027, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    report = build_report(core, "acme", T0, until, ind)
    took = time.perf_counter() - start
    tracemalloc.start()
    build_report(core, "acme", T0, until, ind)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    cursor = tmp / f"{label}.cursor"
    cursor.unlink(missing_ok=True)
    with open("/dev/null", "w") as sink:
        start = time.perf_counter()
        exported = export_stream(core.catalog, sink, cursor, "cef", from_start=True)
        cef_took = time.perf_counter() - start
        cursor.unlink()
        tracemalloc.start()
        export_stream(core.catalog, sink, cursor, "cef", from_start=True)
        cef_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    scanned = report["events_scanned"]
    print(f"{label}: {scanned} events, {report['counts']['files']} files involved; "
          f"report {scanned / took:,.0f} events/s ({took:.2f} s), peak {peak / 2**20:.1f} MiB; "
          f"CEF export {exported / cef_took:,.0f} events/s, peak {cef_peak / 2**20:.1f} MiB")
    return {"peak": peak, "cef_peak": cef_peak, "rate": scanned / took}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--factor", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = Config(base_dir=tmp)
        cfg.gateway.data_dir = str(tmp / "data")
        cfg.catalog.url = f"sqlite:///{tmp / 'catalog.db'}"
        cfg.audit.log = "off"
        create_master_key_file(cfg.master_key_file)
        with Core.open(cfg) as core:
            chain = admin.create_tenant(core, "acme").id
            fill(core, chain, 0, args.events)
            small = measure(core, tmp, "small")
            fill(core, chain, args.events, args.events * (args.factor - 1))
            large = measure(core, tmp, "large")
    print(f"ratio large/small: events x{args.factor}; report peak memory "
          f"x{large['peak'] / small['peak']:.2f}, CEF export peak memory "
          f"x{large['cef_peak'] / small['cef_peak']:.2f}, report rate "
          f"x{large['rate'] / small['rate']:.2f}")


if __name__ == "__main__":
    main()
