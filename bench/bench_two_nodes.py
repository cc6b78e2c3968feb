"""Two gateway nodes vs one over one PostgreSQL catalog: small-file PUT throughput to one
tenant, and how much of the database's time goes to waiting on the tenant's audit chain
head (``audit_heads``) and on its namespace row (``tenants``, taken FOR UPDATE by each
commit).

    .venv/bin/python bench/bench_two_nodes.py [--puts 600] [--clients 8] [--size 4096]

Each run starts real ``serve`` processes (1 WebDAV worker each) over a fresh database,
then PUTs ``--puts`` files of ``--size`` bytes from ``--clients`` threads (keep-alive
HTTPS), spread over the nodes. A sampler reads ``pg_stat_activity`` every 5 ms and counts
the gateway backends waiting on a lock, by the statement they wait in. Prints one line per
setup and the ratio; on a 2-core machine two nodes compete for the same cores as
PostgreSQL and the clients, so the ratio shows contention, not a scale-out.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.cluster.conftest import PW, drop_database, new_database, populate
from tests.cluster.nodes import make_cluster

urllib3.disable_warnings()


class LockSampler(threading.Thread):
    """Counts, every 5 ms, the backends of the database waiting on a lock, by statement."""

    def __init__(self, db_url: str, db_name: str) -> None:
        super().__init__(daemon=True)
        self.dsn = db_url.replace("postgresql+psycopg://", "postgresql://")
        self.db = db_name
        self.samples = 0
        self.active = 0
        self.waits: dict[str, int] = {}
        self.stop_flag = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop_flag.is_set():
                rows = conn.execute(
                    "SELECT wait_event_type, query FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid() AND state = 'active'", (self.db,)).fetchall()
                self.samples += 1
                self.active += len(rows)
                for kind, query in rows:
                    if kind == "Lock":
                        q = (query or "").lower()
                        what = ("audit chain head" if "audit_heads" in q else
                                "tenant row" if "from tenants" in q else
                                "session/other" )
                        self.waits[what] = self.waits.get(what, 0) + 1
                time.sleep(0.005)


def run(nodes_count: int, args: argparse.Namespace) -> float:
    url, name = new_database()
    root = Path(tempfile.mkdtemp(prefix="bench2n-"))
    nodes = make_cluster(root, url, count=nodes_count)
    try:
        populate(nodes[0])
        for n in nodes:
            n.start()
        body = os.urandom(args.size)
        local = threading.local()

        def put(i: int) -> int:
            s = getattr(local, "s", None)
            if s is None:
                s = local.s = requests.Session()
                s.auth = ("alice@acme", PW)
            node = nodes[i % nodes_count]
            return s.put(f"{node.url}/f{i:05d}.bin", data=body, timeout=120,
                         verify=False).status_code

        for i in range(args.clients):  # warm each client's login and connection
            put(-1 - i)
        sampler = LockSampler(url, name)
        sampler.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            codes = list(pool.map(put, range(args.puts)))
        elapsed = time.perf_counter() - t0
        sampler.stop_flag.set()
        sampler.join()
        assert all(c == 201 for c in codes), sorted(set(codes))
        rate = args.puts / elapsed
        waits = ", ".join(f"{k} {v / max(1, sampler.active):.1%}"
                          for k, v in sorted(sampler.waits.items())) or "none"
        busy = sampler.active / max(1, sampler.samples)
        print(f"{nodes_count} node(s): {args.puts} PUTs of {args.size} B in {elapsed:.2f} s "
              f"= {rate:.0f} PUT/s; busy backends per sample {busy:.2f}; "
              f"share of busy backend samples waiting on a lock: {waits}", flush=True)
        return rate
    finally:
        for n in nodes:
            n.stop()
        drop_database(name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--puts", type=int, default=600)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--size", type=int, default=4096)
    args = p.parse_args()
    one = run(1, args)
    two = run(2, args)
    print(f"ratio 2 nodes / 1 node: x{two / one:.2f} (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
