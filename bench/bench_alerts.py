"""Can the alert evaluator keep up with the audit stream? (gateway/alerts)

On a fresh catalog (SQLite by default, ``--db-url`` for PostgreSQL: a database of its own
there) stores N audit events the way the audit writer does (batches of 256: 70 % reads,
20 % successful logins from ``--networks`` /24 networks, 10 % failed logins, over
``--accounts`` accounts in 10 minutes), then times the evaluator's rounds until its cursor
reached them. Prints events/s of both and the ratio evaluator / writer (>= 1: one
evaluator keeps up with the writers; it runs in ``serve``'s supervisor, not in the request
path).
Usage: .venv/bin/python bench/bench_alerts.py [--n 20000] [--accounts 200] [--networks 1]
       [--db-url URL]

``--steady RATE`` instead plays what ``serve`` sees under a download flood: RATE audited
downloads per second (8 accounts), a round every ``[alerts] interval_ms`` (2 s) for
``--seconds`` (a window of 60 s and more), and prints the evaluator's CPU time per round
and as a share of one core, once keeping its windows between rounds (as it does) and
once reading them from the catalog every round (as it did before ``alerts/windows.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway import admin
from gateway.alerts.evaluator import Evaluator
from gateway.audit import AuditEvent
from gateway.catalog.tables import alert_lease
from gateway.config import Config
from gateway.core import Core
from gateway.keyring import create_master_key_file


def events(tenant: admin.Tenant, n: int, accounts: int, networks: int,
           t0: datetime) -> list[AuditEvent]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        user = f"u{rnd.randrange(accounts)}"
        ts = t0 + timedelta(seconds=600 * i / n)
        kind = rnd.random()
        action, result = ("read", "ok") if kind < 0.7 else ("login", "ok") if kind < 0.9 \
            else ("login", "denied")
        addr = f"198.51.{rnd.randrange(networks)}.{rnd.randrange(250)}"
        out.append(AuditEvent(action=action, protocol="webdav", result=result, chain=tenant.id,
                              tenant=tenant.name, user=user, remote_addr=addr, bytes=4096,
                              ts=ts))
    return out


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database on the server of ``admin_url``, dropped afterwards (the
    bench never fills the database it is given)."""
    import psycopg

    name = f"lumanox_bench_{secrets.token_hex(4)}"
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def steady(core: Core, tenant: admin.Tenant, rate: int, seconds: int, keep: bool) -> str:
    """Interleave RATE downloads/s of audit events with evaluator rounds every 2 s."""
    ev = Evaluator(core, holder=f"steady-{keep}", sinks=[])
    with core.catalog.write() as conn:  # a fresh lease, cursor at the current heads
        conn.execute(alert_lease.delete())
    t0 = datetime.now(UTC)
    ev.run_once(now=t0)
    cpu, rounds, step = 0.0, 0, 2.0
    for r in range(int(seconds / step)):
        at = t0 + timedelta(seconds=r * step)
        core.audit.write_now([AuditEvent(
            action="read", protocol="webdav", result="ok", chain=tenant.id,
            tenant=tenant.name, user=f"u{i % 8}", remote_addr="192.0.2.9", bytes=4096,
            path=f"/f{i}", ts=at + timedelta(seconds=step * i / (rate * step)))
            for i in range(int(rate * step))])
        if not keep:
            ev.windows.reset()
        start = time.process_time()
        ev.run_once(now=at + timedelta(seconds=step))
        cpu, rounds = cpu + time.process_time() - start, rounds + 1
    per = cpu / rounds
    return (f"{'kept windows' if keep else 'window read each round'}: {per * 1000:7.1f} ms "
            f"CPU per round, {per / step:6.1%} of a core ({rate} downloads/s, {rounds} rounds)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--networks", type=int, default=1,
                    help="/24 networks the accounts use (more: new_network fires often)")
    ap.add_argument("--db-url", default="", help="a PostgreSQL server (URL of a database "
                    "to connect to): the bench creates and drops its own database there")
    ap.add_argument("--steady", type=int, default=0, metavar="RATE",
                    help="downloads/s to play with rounds every 2 s (see above)")
    ap.add_argument("--seconds", type=int, default=120)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        cfg = Config(base_dir=Path(tmp))
        cfg.gateway.data_dir = tmp
        cfg.catalog.url = stack.enter_context(scratch_database(args.db_url)) if args.db_url \
            else f"sqlite:///{tmp}/catalog.db"
        cfg.audit.log = "off"
        create_master_key_file(cfg.master_key_file)
        with Core.open(cfg) as core:
            tenant = admin.create_tenant(core, f"bench{random.randrange(10**6)}")
            if args.steady:
                print(f"database: {core.catalog.engine.dialect.name}")
                for keep in (False, True, False, True):
                    print(steady(core, tenant, args.steady, args.seconds, keep), flush=True)
                return
            ev = Evaluator(core, holder="bench", sinks=[])
            t0 = datetime.now(UTC)
            ev.run_once(now=t0)
            batch = events(tenant, args.n, args.accounts, args.networks, t0)
            start = time.perf_counter()
            for i in range(0, len(batch), 256):
                core.audit.write_now(batch[i:i + 256])
            write_s = time.perf_counter() - start
            start, rounds, done, fired = time.perf_counter(), 0, 0, 0
            while done < args.n:
                res = ev.run_once(now=t0 + timedelta(minutes=11))
                assert res is not None
                rounds, done, fired = rounds + 1, done + res.events, fired + len(res.fired)
            eval_s = time.perf_counter() - start
        print(f"database: {core.catalog.engine.dialect.name}; {args.n} events, "
              f"{args.accounts} accounts, {args.networks} networks")
        print(f"audit writer (batches of 256): {args.n / write_s:9.0f} events/s")
        print(f"evaluator ({rounds} rounds):    {args.n / eval_s:9.0f} events/s, "
              f"{fired} alerts fired")
        print(f"ratio evaluator / writer:      {write_s / eval_s:9.2f}x")


if __name__ == "__main__":
    main()
