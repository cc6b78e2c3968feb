"""The daily retention run inside ``serve``: a supervisor job that runs when the catalog
lease says a run is due and no other node holds it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from retention_helpers import all_files, core_of, events, make_env, put, served

from gateway.compliance.retention import lease


def test_lease_lets_one_node_run_at_a_time_and_only_when_due(tmp_path: Path,
                                                             empty_db_url: str) -> None:
    env = make_env(tmp_path, empty_db_url)  # SQLite and PostgreSQL (several nodes)
    now = datetime.now(UTC)
    with core_of(env) as core:
        cat = core.catalog
        assert lease.take(cat, "node-a", now, lease_s=60, run_every_s=3600)
        assert not lease.take(cat, "node-b", now, lease_s=60, run_every_s=3600)  # a runs
        # a died holding it: b takes over once the lease expired
        assert lease.take(cat, "node-b", now + timedelta(seconds=61), lease_s=60,
                          run_every_s=3600)
        lease.finish(cat, "node-a", now)  # a's late finish changes nothing
        assert lease.state(cat)["holder"] == "node-b"
        lease.finish(cat, "node-b", now + timedelta(seconds=62))
        assert not lease.take(cat, "node-a", now + timedelta(seconds=100), lease_s=60,
                              run_every_s=3600)  # not due again yet
        assert lease.take(cat, "node-a", now + timedelta(seconds=3700), lease_s=60,
                          run_every_s=3600)


def test_serve_runs_retention_by_itself(tmp_path: Path) -> None:
    with served(tmp_path, "[retention]\ncheck_every_s = 1\nrun_every_s = 1\n") as gw:
        env = gw.env
        put(env, {"/old/a.txt": b"a" * 10, "/keep/b.txt": b"b" * 10})
        env.run("retention", "set", "--tenant", "acme", "--path", "/old", "--files-days", "0")
        deadline = time.monotonic() + 60
        while "/old/a.txt" in all_files(env) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert all_files(env) == {"/keep/b.txt"}
        assert events(env, "retention-run")
        with core_of(env) as core:
            state = lease.state(core.catalog)
        assert state is not None and state["last_run_at"] is not None
