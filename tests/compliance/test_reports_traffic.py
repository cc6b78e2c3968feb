"""A report over real traffic: curl PUT and GET over WebDAV, OpenSSH ``sftp`` upload, one
refused login, against a running ``lumanox-gateway serve``; then the activity and login
reports show exactly those transfers and logins (compared with the catalog itself)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_runner import run_cli
from security.conftest import PW, started_gateway
from sqlalchemy import select

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.config import load_config


def _report(config: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env.update(LUMANOX_CONFIG=str(config), PYTHONPATH=str(Path(__file__).parents[2]))
    p = run_cli("report", *args, "--tenant", "acme", "--json", env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_report_shows_exactly_the_real_traffic(tmp_path: Path) -> None:
    local_a = tmp_path / "a.txt"
    local_a.write_bytes(b"webdav bytes " * 1000)
    local_b = tmp_path / "b.bin"
    local_b.write_bytes(os.urandom(70_000))
    with started_gateway(tmp_path / "gw") as gw:
        # gw.curl turns arguments starting with "/" into URLs: local files go relative
        put = gw.curl("-T", os.path.relpath(local_a), "/a.txt", login="alice@acme")
        assert put.returncode == 0, put.stderr
        got = gw.curl("-o", os.path.relpath(tmp_path / "a.back"), "/a.txt", login="alice@acme")
        assert got.returncode == 0 and (tmp_path / "a.back").read_bytes() == local_a.read_bytes()
        refused = gw.curl("-o", os.path.relpath(os.devnull), "-w", "%{http_code}", "/a.txt",
                          login="alice@acme", password="wrong-password-1")
        assert refused.stdout == "401"
        up = gw.sftp_batch("alice@acme", f"put {local_b} /b.bin\n")
        assert up.returncode == 0, up.stderr
        config = gw.config_path
    # the gateway has stopped: every queued event is stored
    report = _report(config, "activity", "--user", "alice")
    transfers = {(e["protocol"], e["action"], e["path"], e["bytes"], e["result"])
                 for e in report["events"] if e["action"] in ("write", "read")}
    assert transfers == {("webdav", "write", "/a.txt", 13000, "ok"),
                         ("webdav", "read", "/a.txt", 13000, "ok"),
                         ("sftp", "write", "/b.bin", 70000, "ok")}
    per_protocol = {r["protocol"]: (r["upload_bytes"], r["download_bytes"])
                    for r in report["by_protocol"]}
    assert per_protocol["webdav"] == (13000, 13000) and per_protocol["sftp"] == (70000, 0)
    assert report["summary"]["upload_bytes"] == 83000
    assert report["failed_logins"]["total"] == 1
    assert report["chain"]["verified"] is True
    cfg = load_config(config)
    catalog = Catalog(cfg.catalog_url)
    try:
        with catalog.read() as conn:
            stored = list(conn.execute(select(audit_events.c.seq).where(
                audit_events.c.tenant == "acme", audit_events.c.user == "alice")
                .order_by(audit_events.c.ts, audit_events.c.id)).scalars())
    finally:
        catalog.dispose()
    assert [e["seq"] for e in report["events"]] == stored  # exactly the stored events
    logins = _report(config, "logins", "--user", "alice")["logins"]
    seen = {(r["protocol"], r["result"], r["method"]) for r in logins}
    assert seen == {("webdav", "ok", "password"), ("webdav", "denied", "password"),
                    ("ssh", "ok", "password")}, logins  # SSH logins: protocol "ssh"
    sftp_login = next(r for r in logins if r["protocol"] == "ssh")
    assert (sftp_login["client"] or "").startswith("SSH-2.0-OpenSSH")
    assert all(r["remote_addr"] == "127.0.0.1" for r in logins)
    assert PW not in json.dumps(logins)
