"""#9.16: a WebDAV lock cannot block a tenant for weeks.

Lock lifetimes are capped (``webdav.max_lock_timeout_s``, default 1 hour; refreshing
renews them up to the cap), a depth-infinity lock needs write permission on the whole
subtree, and admins list and break locks with ``lumanox-gateway locks`` (audited).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from .authz_cast import PW, authz_cast
from .conftest import ROOT, SecGateway, started_gateway

LOCKINFO = ('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            '</D:lockscope><D:locktype><D:write/></D:locktype>'
            '<D:owner>attacker</D:owner></D:lockinfo>')


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecGateway]:
    with started_gateway(tmp_path_factory.mktemp("locks"), authz_cast) as g:
        yield g


def lock(gw: SecGateway, path: str, login: str, *headers: str) -> tuple[int, int, str]:
    """(status, seconds the lock has left, lock token) of a LOCK request."""
    args = ["-X", "LOCK", "-D", "-", "-o", "-", "-w", "%{http_code}",
            "-H", "Content-Type: application/xml"]
    for h in headers:
        args += ["-H", h]
    if not any(h.startswith("If:") for h in headers):
        args += ["--data-binary", LOCKINFO]
    r = gw.curl(*args, path, login=login, password=PW)
    head, status = r.stdout[:-3], int(r.stdout[-3:])
    timeout = re.search(r"<(?:\w+:)?timeout>Second-(\d+)<", head)
    token = re.search(r"(?im)^lock-token:\s*<([^>]+)>", head)
    return status, int(timeout.group(1)) if timeout else -1, token.group(1) if token else ""


def put(gw: SecGateway, path: str, login: str) -> int:
    r = gw.curl("-X", "PUT", "--data-binary", "x", "-o/dev/null", "-w", "%{http_code}",
                path, login=login)
    return int(r.stdout)


def cli(gw: SecGateway, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env.update(LUMANOX_CONFIG=str(gw.config_path), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gateway", *argv], env=env,
                          capture_output=True, text=True, timeout=60)


def unlock(gw: SecGateway, path: str, login: str, token: str) -> int:
    r = gw.curl("-X", "UNLOCK", "-H", f"Lock-Token: <{token}>", "-o/dev/null",
                "-w", "%{http_code}", path, login=login)
    return int(r.stdout)


def test_infinite_lock_is_capped_at_one_hour_and_refresh_stays_capped(gw: SecGateway) -> None:
    status, timeout, token = lock(gw, "/dept/pub/a.txt", "alice@acme", "Timeout: Infinite")
    assert status == 200 and token
    assert 3500 < timeout <= 3600  # seconds left, as the client sees them
    status, timeout, _ = lock(gw, "/dept/pub/a.txt", "alice@acme",
                              "Timeout: Second-2419200", f"If: (<{token}>)")
    assert status == 200 and 3500 < timeout <= 3600
    with gw.core() as core, core.catalog.read() as conn:
        from gateway.catalog import locks

        tid = conn.exec_driver_sql("SELECT id FROM tenants WHERE name='acme'").scalar()
        row = locks.get(conn, tid, token)
    assert row is not None and row["timeout"] == 3600
    assert unlock(gw, "/dept/pub/a.txt", "alice@acme", token) == 204


def test_cap_is_configurable(make_gateway) -> None:  # type: ignore[no-untyped-def]
    g = make_gateway(authz_cast, webdav_extra="max_lock_timeout_s = 120")
    status, timeout, _ = lock(g, "/dept/pub/a.txt", "alice@acme", "Timeout: Second-86400")
    assert status == 200 and 60 < timeout <= 120


def test_depth_infinity_lock_needs_write_on_the_whole_subtree(gw: SecGateway) -> None:
    for path in ("/", "/dept"):
        status, _, _ = lock(gw, path, "carol@acme", "Timeout: Infinite", "Depth: infinity")
        assert status == 403, path
    assert gw.wait_audit(action="lock", user="carol", path="/", result="denied")
    assert put(gw, "/dept/pub/after.txt", "alice@acme") == 201
    status, _, token = lock(gw, "/dept/pub", "carol@acme", "Depth: infinity")
    assert status == 200
    assert unlock(gw, "/dept/pub", "carol@acme", token) == 204


def test_admin_lists_and_breaks_a_tenant_wide_lock(gw: SecGateway) -> None:
    status, _, token = lock(gw, "/", "alice@acme", "Timeout: Infinite", "Depth: infinity")
    assert status == 200
    assert put(gw, "/blocked.txt", "carol@acme") == 423

    listed = cli(gw, "locks", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    mine = [r for r in rows if r["token"] == token]
    assert mine and mine[0]["tenant"] == "acme" and mine[0]["path"] == "/"
    assert mine[0]["depth"] == "infinity" and mine[0]["principal"] == "alice@acme"

    assert cli(gw, "locks", "break", "no-such-token").returncode != 0
    broken = cli(gw, "locks", "break", token)
    assert broken.returncode == 0, broken.stderr
    assert put(gw, "/blocked.txt", "carol@acme") == 201
    assert token not in cli(gw, "locks", "list", "--json").stdout
    events = gw.wait_audit(action="lock-break", protocol="admin")
    assert events and events[-1]["tenant"] == "acme" and events[-1]["path"] == "/"


def test_admin_breaks_every_lock_of_a_tenant(gw: SecGateway) -> None:
    tokens = [lock(gw, p, "alice@acme")[2] for p in ("/dept/pub/a.txt", "/archive")]
    assert all(tokens)
    r = cli(gw, "locks", "break", "--tenant", "acme", "--all")
    assert r.returncode == 0, r.stderr
    out = cli(gw, "locks", "list", "--tenant", "acme", "--json")
    assert json.loads(out.stdout) == []
