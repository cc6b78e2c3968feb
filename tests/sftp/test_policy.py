"""Policy and data-safety guarantees through real clients."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from .conftest import PW, SSH_OPTS, Gateway, make_file, need, sha256_file, wait_until

MiB = 1024 * 1024


def _paramiko(gateway: Gateway, login: str, password: str = PW) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
    client.connect("127.0.0.1", gateway.port, username=login, password=password,
                   allow_agent=False, look_for_keys=False, timeout=20)
    return client


def test_tenant_without_sftp_refused_before_password(gateway: Gateway, work: Path) -> None:
    r = gateway.sftp_batch("carol@nosftp", "ls\n")
    assert r.returncode != 0
    assert "authentication failed" in r.stderr.lower() or "permission denied" in r.stderr.lower()
    assert wait_until(lambda: any(
        e.get("action") == "login" and e.get("tenant") == "nosftp" and e.get("result") == "denied"
        for e in gateway.audit_events()))
    events = [e for e in gateway.audit_events()
              if e.get("action") == "login" and e.get("tenant") == "nosftp"]
    assert all(e["result"] == "denied" for e in events)
    reason = events[-1].get("reason") or ""
    assert "sftp not allowed" in reason
    assert "method=password" not in reason  # refused before any password was checked
    assert "client=SSH-2.0-OpenSSH" in reason
    assert events[-1].get("remote_addr") == "127.0.0.1"


def test_wrong_password_rejected_then_right_one_works(gateway: Gateway) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        _paramiko(gateway, "alice@acme", "wrong")
    client = _paramiko(gateway, "alice@acme")
    client.close()


def test_over_quota_write_fails_and_keeps_previous(gateway: Gateway, work: Path) -> None:
    small = work / "small.txt"
    small.write_bytes(b"the previous version\n")
    r = gateway.sftp_batch("erin@tight", f"put {small} q.bin\n")
    assert r.returncode == 0, r.stderr
    big = make_file(work / "big.bin", 4 * MiB, seed=5)  # quota is 3 MiB
    r = gateway.sftp_batch("erin@tight", f"put {big} q.bin\n")
    assert r.returncode != 0
    assert "quota" in r.stderr.lower() or "failure" in r.stderr.lower()
    r = gateway.sftp_batch("erin@tight", f"get q.bin {work / 'q.txt'}\n")
    assert r.returncode == 0
    assert (work / "q.txt").read_bytes() == b"the previous version\n"
    # the SFTP status itself, seen by paramiko: a failure naming the quota
    client = _paramiko(gateway, "erin@tight")
    try:
        sftp = client.open_sftp()
        with pytest.raises(OSError, match="quota"), sftp.open("q.bin", "wb") as f:
            f.write(big.read_bytes())
        assert sftp.open("q.bin").read() == b"the previous version\n"
    finally:
        client.close()


def test_killed_upload_keeps_previous_version(gateway: Gateway, work: Path) -> None:
    old = work / "v1.bin"
    old.write_bytes(b"version one\n" * 1000)
    assert gateway.sftp_batch("alice@acme", f"mkdir kill\nput {old} kill/f.bin\n").returncode == 0
    big = make_file(work / "v2.bin", 60 * MiB, seed=6)
    args = [need("sftp"), *SSH_OPTS, "-l", "80000", "-P", str(gateway.port), "-b", "-",
            "alice@acme@127.0.0.1"]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=gateway.ssh_env(PW),
                            start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(f"put {big} kill/f.bin\n")
    proc.stdin.close()
    time.sleep(2.0)
    assert proc.poll() is None
    proc.kill()
    proc.wait()
    r = gateway.sftp_batch("alice@acme", f"get kill/f.bin {work / 'after.bin'}\n")
    assert r.returncode == 0, r.stderr
    assert sha256_file(work / "after.bin") == sha256_file(old)
    assert wait_until(lambda: any(
        e.get("action") == "write" and e.get("path") == "/kill/f.bin"
        and e.get("result") != "ok" for e in gateway.audit_events()))


def test_data_dir_holds_only_ciphertext(gateway: Gateway, work: Path) -> None:
    marker = b"LUMANOX-KNOWN-PLAINTEXT-4b1d9e"
    f = work / "plain.txt"
    f.write_bytes(marker * 5000)
    r = gateway.sftp_batch("alice@acme", f"mkdir plain\nput {f} plain/plain.txt\n")
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["grep", "-r", "-l", "-a", marker.decode(), str(gateway.data_dir)],
                       capture_output=True, text=True)
    assert r.returncode == 1, f"plaintext found in: {r.stdout}"
    r = subprocess.run(["grep", "-r", "-l", "-a", "plain.txt", str(gateway.data_dir / "blobs")],
                       capture_output=True, text=True)
    assert r.returncode == 1


def test_transfer_audited_with_bytes_and_duration(gateway: Gateway, work: Path) -> None:
    f = make_file(work / "aud.bin", 1 * MiB + 5, seed=8)
    r = gateway.sftp_batch("bob@acme", f"mkdir aud\nput {f} aud/a.bin\nget aud/a.bin "
                                      f"{work / 'x.bin'}\n")
    assert r.returncode == 0, r.stderr

    def found() -> list[dict]:
        return [e for e in gateway.audit_events() if e.get("path") == "/aud/a.bin"
                and e.get("user") == "bob" and e.get("action") in ("write", "read")]

    assert wait_until(lambda: {e["action"] for e in found()} >= {"write", "read"})
    for e in found():
        assert e["bytes"] == 1 * MiB + 5 and e["protocol"] == "sftp"
        assert e.get("duration_ms") is not None
    assert len([e for e in found() if e["action"] == "write"]) == 1


def test_replacing_a_file_may_use_the_space_it_frees(gateway: Gateway, work: Path) -> None:
    from gateway import admin

    with gateway.core() as core:
        admin.create_tenant(core, "roomy", quota_bytes=3 * MiB)
        admin.create_user(core, "roomy", "ron", password=PW)
    first = make_file(work / "first.bin", 2 * MiB, seed=41)
    second = make_file(work / "second.bin", 2 * MiB + MiB // 2, seed=42)
    assert gateway.sftp_batch("ron@roomy", f"put {first} f.bin\n").returncode == 0
    r = gateway.sftp_batch("ron@roomy", f"put {second} f.bin\nget f.bin {work / 'b.bin'}\n")
    assert r.returncode == 0, r.stderr
    assert sha256_file(work / "b.bin") == sha256_file(second)


def test_session_limit_refused_with_clear_reason(gateway: Gateway) -> None:
    from gateway import admin
    from gateway.policy import manage

    with gateway.core() as core:
        admin.create_user(core, "acme", "solo", password=PW)
        manage.set_user_policy(core, "acme", "solo", max_sessions=1)
    first = _paramiko(gateway, "solo@acme")
    try:
        first.open_sftp().listdir(".")
        r = gateway.sftp_batch("solo@acme", "ls\n")
        assert r.returncode != 0
        assert "too many sessions" in r.stderr
    finally:
        first.close()
    # the slot is released when the first connection ends
    assert wait_until(lambda: gateway.sftp_batch("solo@acme", "ls\n").returncode == 0, 10)


def test_disabling_an_account_stops_its_live_session(tmp_path: Path) -> None:
    """Policy is enforced on every operation, not only at login."""
    from gateway import admin

    from .conftest import start_gateway, stop

    gw = start_gateway(tmp_path / "gw", extra="[policy]\nsession_recheck_s = 0\n")
    try:
        client = _paramiko(gw, "bob@acme")
        sftp = client.open_sftp()
        sftp.mkdir("/still-here")
        assert "still-here" in sftp.listdir("/")
        with gw.core() as core:
            admin.set_user(core, "acme", "bob", disabled=True)
        with pytest.raises(OSError):
            sftp.listdir("/")
        with pytest.raises(OSError):
            sftp.mkdir("/after-disable")
        client.close()
        with gw.core() as core:
            session = core.session(admin.principal_for(core, "acme", "alice"), "test", "::1")
            assert [e.name for e in session.list("/")] == ["still-here"]
        assert wait_until(lambda: any(
            e.get("user") == "bob" and e.get("action") == "list" and e.get("result") == "denied"
            for e in gw.audit_events()))
    finally:
        stop(gw.proc)


def test_a_webdav_lock_stops_sftp_changes(gateway: Gateway, work: Path) -> None:
    """A file locked by a WebDAV client (e.g. an open office document) cannot be replaced,
    renamed or deleted over SFTP; the client sees a clear failure, the file is intact."""
    from gateway import admin
    from gateway.catalog import locks

    src = make_file(work / "new.odt", 2000, seed=7)
    old = make_file(work / "old.odt", 1000, seed=8)
    r = gateway.sftp_batch("alice@acme", f"mkdir locked\nput {old} locked/doc.odt\n")
    assert r.returncode == 0, r.stderr
    with gateway.core() as core:
        tenant = admin.get_tenant(core, "acme")
        with core.catalog.write() as conn:  # as the WebDAV front-end stores a LOCK
            locks.create(conn, tenant.id, "opaquelocktoken:sftp-test", {
                "root": locks.lock_key(["locked", "doc.odt"], tenant.case_insensitive),
                "depth": "0", "scope": "exclusive", "type": "write", "owner": b"",
                "principal": "bob@acme", "timeout": 600})
    try:
        for cmd in (f"put {src} locked/doc.odt", "rename locked/doc.odt locked/x.odt",
                    "rm locked/doc.odt"):
            r = gateway.sftp_batch("alice@acme", cmd + "\n")
            # OpenSSH shows the status (v3 has no "locked"), paramiko/lftp the message
            assert r.returncode != 0 and "permission denied" in r.stderr.lower(), \
                (cmd, r.stderr)
        back = work / "back.odt"
        r = gateway.sftp_batch("alice@acme", f"get locked/doc.odt {back}\n")
        assert r.returncode == 0 and sha256_file(back) == sha256_file(old)
    finally:
        with gateway.core() as core, core.catalog.write() as conn:
            locks.delete_token(conn, admin.get_tenant(core, "acme").id,
                               "opaquelocktoken:sftp-test")
    r = gateway.sftp_batch("alice@acme", f"put {src} locked/doc.odt\n")
    assert r.returncode == 0, r.stderr
