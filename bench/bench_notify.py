"""Event notifications: what they cost where it matters (prints ratios and rates).

1. The upload path: N small writes through a core Session into a folder with an event rule,
   against the same writes into a folder without one (the watcher reads the audit chain
   afterwards; nothing runs on the upload path, so the ratio should stay ~1.0).
2. The event watcher: audit events examined and entries queued per second.
3. The dispatcher: signed webhook deliveries per second to a local HTTP receiver.

Usage: .venv/bin/python bench/bench_notify.py [N]   (SQLite catalog in a temp folder)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from gateway import admin
from gateway.config import Config
from gateway.core import Core
from gateway.keyring import create_master_key_file
from gateway.notify import events, outbox, webhooks
from gateway.notify.dispatcher import Dispatcher
from gateway.notify.watcher import watch_once
from tests.notify.hooks import HookListener


def writes(session, folder: str, n: int, start: int = 0) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for i in range(start, start + n):
        session.write_file(f"{folder}/f{i}.csv", b"id,qty\n1,5\n")
    return time.perf_counter() - started


def alternating(session, n: int, chunk: int = 100) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds for n files into /plain, into /drop), written in chunks alternating the
    folder and which goes first, so that load changes and catalog growth fall on both."""
    plain = ruled = 0.0
    for start in range(0, n, chunk):
        if start // chunk % 2:
            ruled += writes(session, "/drop", chunk, start)
            plain += writes(session, "/plain", chunk, start)
        else:
            plain += writes(session, "/plain", chunk, start)
            ruled += writes(session, "/drop", chunk, start)
    return plain, ruled


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config(base_dir=Path(tmp))
        cfg.gateway.data_dir = str(Path(tmp) / "data")
        cfg.audit.log = "off"
        create_master_key_file(cfg.master_key_file)
        hook = HookListener().start()
        with Core.open(cfg) as core:
            admin.create_tenant(core, "acme")
            admin.create_user(core, "acme", "alice", password="bench-password-1")
            session = core.session(admin.principal_for(core, "acme", "alice"), "bench", "-")
            for folder in ("/plain", "/drop", "/warm"):
                session.mkdir(folder)
            writes(session, "/warm", 200)
            ep = webhooks.add_endpoint(core, "acme", hook.url).endpoint
            events.add_rule(core, "acme", "/drop", ["upload"], ep.id)
            plain, ruled = alternating(session, n)
            core.audit.flush()
            started = time.perf_counter()
            seen = watch_once(core.catalog)
            watch_s = time.perf_counter() - started
            queued = len(outbox.list_entries(core.catalog, limit=10 * n))
            dispatcher = Dispatcher(cfg, core)
            started = time.perf_counter()
            while dispatcher.run_once():
                pass
            deliver_s = time.perf_counter() - started
            delivered = len(outbox.list_entries(core.catalog, state="delivered", limit=10 * n))
        hook.stop()
    print(f"uploads into a ruled folder vs an unruled one: {plain / ruled:.2f}x the rate "
          f"({n / ruled:.0f}/s vs {n / plain:.0f}/s)")
    print(f"watcher: {seen} audit events examined, {queued} queued in {watch_s:.2f} s "
          f"({seen / watch_s:.0f} events/s)")
    print(f"dispatcher: {delivered} signed webhooks delivered in {deliver_s:.2f} s "
          f"({delivered / deliver_s:.0f}/s, one dispatcher, local receiver)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
