"""Login latency and logins/s of the policy layer (Gate level, no network front-end).

Measures, on a fresh catalog (SQLite by default, ``--db-url`` for PostgreSQL):
  * local argon2id password (credential cache off: every login hashes),
  * LDAP over StartTLS against a throwaway slapd (the tests' fixture; skipped if missing),
  * app password, uncached (HMAC + catalog lookups) and cached (the per-request WebDAV
    path: HMAC + the pure decision), the target being < 1 ms median per request,
  * publickey (Gate.begin + public_key_verified; the SSH signature check is asyncssh's),
  * the decision function alone.
Usage: .venv/bin/python bench/bench_auth.py [--n 200] [--threads 2] [--db-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "policy"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402

from gateway import admin  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.core import Core  # noqa: E402
from gateway.keyring import create_master_key_file  # noqa: E402
from gateway.policy import apppasswords, manage, sshkeys  # noqa: E402
from gateway.policy.decision import decide  # noqa: E402
from gateway.policy.gate import Attempt, Gate, Outcome  # noqa: E402

PW = "correct horse battery"


def measure(name: str, fn: Callable[[int], object], n: int, threads: int = 1) -> None:
    for i in range(min(5, n)):
        fn(i)  # warm up
    lat: list[float] = []

    def one(i: int) -> None:
        t0 = time.perf_counter()
        fn(i)
        lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    if threads == 1:
        for i in range(n):
            one(i)
    else:
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat.sort()
    p95 = lat[int(len(lat) * 0.95) - 1]
    print(f"  {name:<52} median {statistics.median(lat) * 1000:8.3f} ms  "
          f"p95 {p95 * 1000:8.3f} ms  {n / wall:9.1f} logins/s  ({threads} thread(s))")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--db-url", default="")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    cfg = Config(base_dir=tmp)
    cfg.gateway.data_dir = str(tmp / "data")
    cfg.catalog.url = args.db_url or f"sqlite:///{tmp / 'catalog.db'}"
    cfg.audit.log = "off"
    create_master_key_file(cfg.master_key_file)
    core = Core.open(cfg)
    try:
        if args.db_url and admin.list_tenants(core):
            raise SystemExit("use an empty database for --db-url")
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice", password=PW)
        _, token = apppasswords.create(core, "acme", "alice", "bench")
        k = ed25519.Ed25519PrivateKey.generate()
        line = k.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
        sshkeys.add_key(core, "acme", "alice", line)
        gate = Gate(core)
        nocache = Gate(core)
        nocache.credential_cache.ttl_s = 0
        dav = Attempt("webdav", "alice@acme", "203.0.113.7")
        sftp = Attempt("sftp", "alice@acme", "203.0.113.7")
        print(f"catalog: {core.catalog.dialect}; n={args.n}")
        n_slow = max(20, args.n // 4)
        measure("local argon2id password (no cache)",
                lambda i: nocache.authenticate_basic(dav, PW), n_slow)
        measure("local argon2id password (no cache)",
                lambda i: nocache.authenticate_basic(dav, PW), n_slow, args.threads)
        measure("app password, uncached (HMAC + catalog)",
                lambda i: nocache.authenticate_basic(dav, token), args.n)
        gate.authenticate_basic(dav, token)
        measure("app password, cached (per WebDAV request)",
                lambda i: gate.authenticate_basic(dav, token), args.n * 10)
        measure("account password, cached (per WebDAV request)",
                lambda i: gate.authenticate_basic(dav, PW), args.n * 10)

        def pubkey(i: int) -> None:
            assert gate.begin(sftp).public_key_verified(line).outcome is Outcome.ACCEPT

        measure("publickey (begin + public_key_verified)", pubkey, args.n)
        facts = gate.load("sftp", "acme", "alice", "203.0.113.7").facts
        measure("decide() alone", lambda i: decide(facts, ()), args.n * 50)
        _ldap(core, args)
    finally:
        core.close()
    return 0


def _ldap(core: Core, args: argparse.Namespace) -> None:
    from slapd_fixture import PASSWORDS, SVC_DN, SVC_PW, Slapd, slapd_problem

    problem = slapd_problem()
    if problem:
        print(f"  LDAP skipped: {problem}")
        return
    server = Slapd(Path(tempfile.mkdtemp(prefix="bench-slapd-")))
    server.setup()
    server.start()
    try:
        admin.create_tenant(core, "ldapco")
        manage.set_ldap(core, "ldapco", bind_password=SVC_PW, urls=[server.url],
                        base_dn="ou=acme,dc=example,dc=org", bind_dn=SVC_DN,
                        ca_file=server.ca_file)
        manage.set_tenant_policy(core, "ldapco", identity="ldap")
        gate = Gate(core)
        gate.credential_cache.ttl_s = 0
        att = Attempt("webdav", "bob@ldapco", "203.0.113.7")
        pw = PASSWORDS[("acme", "bob")]
        n = max(20, args.n // 2)
        measure("LDAP StartTLS (search + re-bind, no cache)",
                lambda i: gate.authenticate_basic(att, pw), n)
        measure("LDAP StartTLS (search + re-bind, no cache)",
                lambda i: gate.authenticate_basic(att, pw), n, args.threads)
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
