"""The admin CLI, run as a real command against SQLite and PostgreSQL catalogs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "gateway"]


class Gw:
    """Runs ``lumanox-gateway`` with a throwaway config."""

    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self.tmp = tmp_path
        self.config = tmp_path / "gateway.toml"
        self.config.write_text(
            f'[gateway]\ndata_dir = "var"\n[catalog]\nurl = "{db_url}"\n'
            f'[tls]\ncert_file = "certs/gw.crt"\nkey_file = "certs/gw.key"\n'
            f'[sftp]\nhost_keys = ["certs/ssh_host_ed25519_key", "certs/ssh_host_ecdsa_key"]\n'
            f'[audit]\nlog = "audit.jsonl"\n')

    def run(self, *args: str, stdin: str | None = None, ok: bool = True
            ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
        p = subprocess.run([*CLI, "--config", str(self.config), *args], input=stdin,
                           capture_output=True, text=True, env=env, timeout=120)
        if ok:
            assert p.returncode == 0, f"{args}: {p.stderr}"
        return p

    def json(self, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return json.loads(self.run(*args, "--json", stdin=stdin).stdout)


@pytest.fixture
def gw(tmp_path: Path, db_url: str) -> Gw:
    return Gw(tmp_path, db_url)


def test_init_creates_keys_and_certificates_once(gw: Gw) -> None:
    out = gw.run("init", "--demo").stdout
    key = gw.tmp / "var" / "master.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    for name in ("gw.crt", "gw.key", "ssh_host_ed25519_key", "ssh_host_ecdsa_key"):
        assert (gw.tmp / "certs" / name).exists()
    assert (gw.tmp / "certs" / "ssh_host_ed25519_key").stat().st_mode & 0o777 == 0o600
    assert "alice@demo" in out and "password:" in out
    again = gw.run("init", "--demo").stdout
    assert "created" not in again and "exists already" in again
    assert key.read_bytes() == key.read_bytes()
    status = gw.json("status")
    assert status["schema"]["up_to_date"] and status["tenants"] == 1


def test_admin_tour(gw: Gw, tmp_path: Path) -> None:
    gw.run("init")
    t = gw.json("tenant", "create", "acme", "--protocols", "sftp,webdav", "--quota-bytes", "1M")
    assert t["protocols"] == ["sftp", "webdav"] and t["quota_bytes"] == 1024 * 1024
    assert [x["name"] for x in gw.json("tenant", "list")] == ["acme"]
    t = gw.json("tenant", "set", "acme", "--protocols", "sftp", "--case-sensitive")
    assert t["protocols"] == ["sftp"] and t["case_insensitive"] is False
    created = gw.json("user", "create", "alice@acme", "--generate-password")
    assert len(created["password"]) >= 12
    gw.run("user", "create", "bob@acme", "--password-stdin", stdin="a long enough secret\n")
    assert [u["name"] for u in gw.json("user", "list", "acme")] == ["alice", "bob"]

    src = tmp_path / "report.csv"
    src.write_bytes(b"id,amount\n1,100\n" * 1000)
    gw.run("files", "mkdir", "alice@acme", "/inbox")
    gw.run("files", "put", "alice@acme", str(src), "/inbox/report.csv")
    listing = gw.json("files", "ls", "alice@acme", "/inbox")
    assert listing[0]["name"] == "report.csv" and listing[0]["size"] == src.stat().st_size

    gw.run("keys", "rotate-tenant", "acme")
    gw.run("keys", "rotate-master")
    back = tmp_path / "back.csv"
    gw.run("files", "get", "alice@acme", "/inbox/report.csv", str(back))
    assert back.read_bytes() == src.read_bytes()

    too_big = tmp_path / "big.bin"
    too_big.write_bytes(b"0" * (2 * 1024 * 1024))
    p = gw.run("files", "put", "alice@acme", str(too_big), "/big.bin", ok=False)
    assert p.returncode == 1 and "quota" in p.stderr and "Traceback" not in p.stderr

    assert "intact" in gw.run("audit", "verify").stdout
    csv_out = gw.run("audit", "query", "--tenant", "acme", "--action", "write",
                     "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("seq,ts,") and len(csv_out) == 3  # one ok, one refused
    assert "tenant-create" in gw.run("audit", "tail", "-n", "50").stdout

    gw.run("user", "disable", "bob@acme")
    assert gw.json("user", "show", "bob@acme")["disabled"] is True
    gw.run("user", "delete", "bob@acme")
    p = gw.run("tenant", "purge", "acme", ok=False)
    assert p.returncode == 2 and "--yes" in p.stderr
    gw.run("tenant", "purge", "acme", "--yes")
    assert gw.json("tenant", "list") == []
    assert gw.json("gc", "--grace", "0")["deleted"] == 0


def test_audit_verify_fails_on_tampering(gw: Gw, db_url: str) -> None:
    from sqlalchemy import create_engine, text

    gw.run("init", "--demo")
    gw.run("files", "mkdir", "alice@demo", "/x")
    assert gw.run("audit", "verify", "demo").returncode == 0
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET path = '/innocent' WHERE action = 'mkdir'"))
    engine.dispose()
    p = gw.run("audit", "verify", ok=False)
    assert p.returncode == 1 and "demo: event" in p.stderr and "modified" in p.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("tenant", "show", "nope"), "no tenant 'nope'"),
    (("user", "create", "alice"), "write users as USER@TENANT"),
    (("tenant", "create", "Bad Name"), "tenant name 'Bad Name'"),
    (("tenant", "create", "x", "--protocols", "ftp"), "unknown protocol(s) ftp"),
    (("tenant", "create", "x", "--quota-bytes", "lots"), "is not a size"),
])
def test_errors_are_one_line_with_the_fix(gw: Gw, args: tuple[str, ...], message: str) -> None:
    gw.run("init")
    p = gw.run(*args, ok=False)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], p.stderr


def test_missing_master_key_fails_closed(gw: Gw) -> None:
    gw.run("init")
    (gw.tmp / "var" / "master.key").unlink()
    p = gw.run("tenant", "list", ok=False)
    assert p.returncode == 1 and "master key file" in p.stderr and "init" in p.stderr
