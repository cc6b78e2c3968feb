"""A lookup of a path that does not exist is a normal outcome, not an error (issue #10.3).

Every new SFTP/SCP upload starts with the client asking whether the target exists; that
lookup is audited with result ``miss``, so ``audit query --result error`` lists real
errors only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SecGateway


def audit_query(gw: SecGateway, *args: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run([sys.executable, "-m", "gateway", "--config", str(gw.config_path),
                        "audit", "query", "--tenant", "acme", "--format", "jsonl", *args],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def test_new_uploads_record_their_lookup_as_a_miss_not_an_error(secgw: SecGateway,
                                                                 tmp_path: Path) -> None:
    src = tmp_path / "report.txt"
    src.write_bytes(b"quarterly numbers\n" * 100)
    r = secgw.sftp_batch("alice@acme", f"put {src} /sftp-new.txt\n")
    assert r.returncode == 0, r.stderr
    r = secgw.scp(str(src), secgw.remote("alice@acme", "/scp-new.txt"))
    assert r.returncode == 0, r.stderr
    for path in ("/sftp-new.txt", "/scp-new.txt"):
        assert secgw.wait_audit(action="write", result="ok", path=path)
    for path in ("/sftp-new.txt", "/scp-new.txt"):
        assert secgw.wait_audit(action="stat", result="miss", user="alice", path=path)
    misses = secgw.audit_events(action="stat", result="miss", user="alice")
    assert all(e["reason"].startswith("not-found") for e in misses)
    assert secgw.audit_events(result="error", user="alice") == []

    errors = audit_query(secgw, "--result", "error")
    assert [e for e in errors if e["action"] == "stat"] == []
    found = audit_query(secgw, "--result", "miss", "--action", "stat")
    assert {e["path"] for e in found} >= {"/sftp-new.txt", "/scp-new.txt"}


def test_operations_on_missing_paths_are_misses_not_errors(secgw: SecGateway) -> None:
    """A stat, a download or a delete of a missing file is a miss, never an error."""
    client, sftp = secgw.paramiko_sftp("bob@acme")
    try:
        with pytest.raises(FileNotFoundError):
            sftp.stat("/no-such-file.bin")
        with pytest.raises(FileNotFoundError):
            sftp.open("/no-such-file.bin", "r")
        with pytest.raises(FileNotFoundError):
            sftp.remove("/no-such-file.bin")
    finally:
        client.close()
    assert secgw.wait_audit(action="stat", user="bob", result="miss", path="/no-such-file.bin")
    assert secgw.wait_audit(action="read", user="bob", result="miss", path="/no-such-file.bin")
    assert secgw.wait_audit(action="delete", user="bob", result="miss", path="/no-such-file.bin")
    assert secgw.audit_events(user="bob", result="error") == []
