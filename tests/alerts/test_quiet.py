"""On a gateway with only normal traffic (logins, uploads, listings, a few downloads over
WebDAV and SFTP) no rule fires; a tampered audit row then fires ``audit_chain``, from the
evaluator's periodic verification and from a failed `audit verify`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import paramiko
from sftp.conftest import need
from sqlalchemy import update

from alerts.harness import PW, start
from gateway import admin
from gateway.catalog.tables import audit_events
from gateway.core import Core


def cast(core: Core) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "norm", password=PW)


def normal_traffic(url: str, sftp_port: int, work: Path) -> None:
    curl = [need("curl"), "-k", "-sS", "-f", "-u", f"norm@acme:{PW}"]
    for i in range(5):
        src = work / f"doc{i}.txt"
        src.write_text(f"report {i}\n" * 100)
        subprocess.run([*curl, "-T", str(src), f"{url}/doc{i}.txt"], check=True, timeout=60)
    subprocess.run([*curl, "-X", "PROPFIND", "-H", "Depth: 1", f"{url}/", "-o", "/dev/null"],
                   check=True, timeout=60)
    for i in range(5):
        subprocess.run([*curl, "-o", "/dev/null", f"{url}/doc{i}.txt"], check=True, timeout=60)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    client.connect("127.0.0.1", port=sftp_port, username="norm@acme", password=PW,
                   look_for_keys=False, allow_agent=False, timeout=20)
    with client, client.open_sftp() as sftp:
        assert len(sftp.listdir("/")) == 5
        with sftp.open("/doc0.txt") as f:
            f.read()
    # one mistyped password is normal too
    argv = [need("curl"), "-k", "-sS", "-o", "/dev/null", "-u", "norm@acme:typo", f"{url}/"]
    subprocess.run(argv, check=True, timeout=60)


def test_normal_traffic_fires_nothing_then_a_tampered_row_fires(tmp_path: Path) -> None:
    agw = start(tmp_path / "gw", cast, extra="verify_interval_s = 1\n")
    try:
        normal_traffic(agw.gw.url, agw.gw.sftp_port, tmp_path)
        agw.settle()
        assert agw.alerts() == []
        assert json.loads(agw.cli("alert", "list", "--json").stdout) == []
        with agw.catalog.write() as conn:  # a database writer rewrites history
            conn.execute(update(audit_events).where(audit_events.c.path == "/doc3.txt",
                                                    audit_events.c.action == "write")
                         .values(path="/innocent.txt"))
        assert agw.cli("audit", "verify", ok=False).returncode == 1
        agw.wait_alert("audit_chain", "chain acme")
        agw.settle()
        fired = {(a.rule, a.subject) for a in agw.alerts()}
        assert fired == {("audit_chain", "chain acme"), ("audit_chain", "chain -")}, fired
        assert "audit_chain tenant=acme subject=chain acme:" in agw.gw.output()
    finally:
        agw.close()
