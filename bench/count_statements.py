"""Catalog statements and transactions per operation, counted on real code paths.

    .venv/bin/python bench/count_statements.py [--show]

In-process core (``Core`` on SQLite, audit on): one ``write_file`` and one ``read_file`` of
4 KiB. Running gateway (``serve`` with one WebDAV and one SFTP worker): one WebDAV PUT and
one GET of 4 KiB, one SFTP put (open, write, close) of 4 KiB. Each operation is measured
on a file that exists already (an overwrite of the same size), and a WebDAV PUT also on a
new file, after a warm-up, so that one-off work (root id, key unwrap, login) is not
counted; batched audit events are waited for and counted with the operation that queued
them.

The counts come from ``gateway.catalog.db.trace`` ($LUMANOX_CATALOG_TRACE in the served
processes): one line per transaction (``Catalog.read``/``write``) and per statement
(through SQLAlchemy, or ``raw`` on the driver's cursor; BEGIN/COMMIT/SAVEPOINT not
counted as statements). Reads of the audit tables alone (the audit export follower and the
checkpoint, which poll on their own clock) are left out. ``--show`` prints the statements.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_tree import ROOT, start_serve

sys.path.insert(0, str(ROOT))
PAYLOAD = os.urandom(4096)
SETTLE_S = 0.3  # > the audit batch delay: queued events are stored by then


class TraceFile:
    """Reads the lines a trace file gained since the last ``take``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def take(self) -> list[str]:
        time.sleep(SETTLE_S)
        data = self.path.read_bytes() if self.path.exists() else b""
        new, self.offset = data[self.offset:], len(data)
        return [line.split(" ", 1)[1] for line in new.decode().splitlines()]


Row = tuple[str, int, int, int, str]  # name, statements, of them raw, transactions, kinds


def _transactions(lines: list[str]) -> list[list[str]]:
    """The trace split at each ``tx`` line (statements before the first are dropped)."""
    txs: list[list[str]] = []
    for line in lines:
        if line.startswith("tx "):
            txs.append([line])
        elif txs and line.startswith(("sql ", "raw ")):
            txs[-1].append(line)
    return txs


def _background(tx: list[str]) -> bool:
    """A read of the audit tables only: the audit export follower or the checkpoint,
    which poll on their own clock, not per request."""
    return tx[0] == "tx read" and len(tx) > 1 and all("audit_" in s for s in tx[1:])


def summary(name: str, lines: list[str], show: bool) -> Row:
    """Counts of one operation's trace lines (printed with ``show``), background reads of
    the audit tables left out."""
    txs = [tx for tx in _transactions(lines) if not _background(tx)]
    if show:
        print(f"-- {name}", *("    " + line for tx in txs for line in tx), sep="\n")
    kinds = Counter(tx[0].split()[1] for tx in txs)
    stmts = [line for tx in txs for line in tx[1:]]
    raw = sum(1 for line in stmts if line.startswith("raw "))
    return name, len(stmts), raw, len(txs), ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))


def measure(name: str, trace: TraceFile, op, show: bool) -> Row:  # type: ignore[no-untyped-def]
    op()  # warm-up: caches, login, first key unwrap
    trace.take()
    op()
    return summary(name, trace.take(), show)


def in_process(work: Path, show: bool) -> list[Row]:
    from gateway import admin
    from gateway.catalog import db
    from gateway.config import Config
    from gateway.core import Core
    from gateway.keyring import create_master_key_file

    trace = TraceFile(work / "core.trace")
    db.trace = db._file_tracer(str(trace.path))
    cfg = Config(base_dir=work)
    cfg.gateway.data_dir = str(work / "data")
    cfg.audit.log = str(work / "audit.jsonl")
    create_master_key_file(cfg.master_key_file)
    try:
        with Core.open(cfg) as core:
            admin.create_tenant(core, "bench")
            admin.create_user(core, "bench", "u")
            s = core.session(admin.principal_for(core, "bench", "u"), "bench", "127.0.0.1")
            return [measure("core write_file 4 KiB", trace, lambda: s.write_file("/f", PAYLOAD),
                            show),
                    measure("core read_file 4 KiB", trace, lambda: s.read_file("/f"), show)]
    finally:
        db.trace = None


def served(work: Path, show: bool) -> list[Row]:
    trace = TraceFile(work / "serve.trace")
    run = start_serve(work / "serve", workers=1,
                      env={"LUMANOX_CATALOG_TRACE": str(trace.path)})
    try:
        def put() -> None:
            assert run.request("PUT", "/f.bin", PAYLOAD)[0] in (201, 204)

        def get() -> None:
            status, body = run.request("GET", "/f.bin")
            assert status == 200 and body == PAYLOAD

        fresh = iter(range(1_000_000))

        def put_new() -> None:
            assert run.request("PUT", f"/new{next(fresh)}.bin", PAYLOAD)[0] == 201

        rows = [measure("WebDAV PUT 4 KiB", trace, put, show),
                measure("WebDAV PUT 4 KiB, new file", trace, put_new, show),
                measure("WebDAV GET 4 KiB", trace, get, show)]
        # SFTP: the login and the first put are the warm-up; the second put is counted
        marks: list[list[str]] = []
        run.sftp_put_sync([("s.bin", PAYLOAD), ("s.bin", PAYLOAD)],
                          between=lambda: marks.append(trace.take()))
        rows.append(summary("SFTP put 4 KiB", marks[1], show))
        return rows
    finally:
        run.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", action="store_true", help="print every statement")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmx-count-") as tmp:
        rows = in_process(Path(tmp), args.show) + served(Path(tmp), args.show)
    print(f"{'operation':<30}{'statements':>11}{'of them raw':>12}{'transactions':>14}  kinds")
    for name, stmts, raw, txs, kinds in rows:
        print(f"{name:<30}{stmts:>11}{raw:>12}{txs:>14}  {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
