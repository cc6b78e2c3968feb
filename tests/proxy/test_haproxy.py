"""Behind HAProxy (PROXY v2 and v1): the gateway sees, audits and decides on the real
client address; nobody else may speak (or forge) the PROXY protocol to it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from tests.haproxy_lb import (
    EXAMPLE,
    closed_without_answer,
    connect_from,
    curl_from,
    proxy_v2,
    sftp_from,
)
from tests.proxy.conftest import PASSWORD, ROOT, Stack


def curl(port: int, source: str, *args: str, password: str = PASSWORD) -> str:
    """curl as alice from ``source`` to the gateway (through whatever listens on ``port``):
    the HTTP status, or ``fail:<exit code>`` when no HTTP answer came."""
    return curl_from(port, source, *args, user="alice@acme", password=password)


def put(port: int, source: str, name: str, body: Path, password: str = PASSWORD) -> str:
    return curl_from(port, source, "-T", str(body), user="alice@acme", password=password,
                     path=f"/{name}")


def sftp_write(port: int, source: str, name: str, data: bytes) -> None:
    with sftp_from(port, source, "alice@acme", PASSWORD) as sftp, sftp.open(name, "wb") as f:
        f.write(data)


def addresses(stack: Stack, protocol: str, action: str) -> set[str]:
    return {e["remote_addr"] for e in stack.events(action=action)
            if e["protocol"] == protocol}


def test_health_checks_pass_and_are_not_refused(stack: Stack) -> None:
    """``check check-send-proxy``: HAProxy's checks carry a header too (v2 LOCAL), so
    they are served, not logged as refused connections of the load balancer."""
    time.sleep(6)  # at least one check round (inter 5s) on a fresh HAProxy
    log = (stack.base / "serve.log").read_text(encoding="utf-8")
    assert "load balancer" not in log, log


def test_the_audit_log_shows_the_real_clients(stack: Stack, tmp_path: Path) -> None:
    body = tmp_path / "a.txt"
    body.write_bytes(b"hello through haproxy\n")
    assert put(stack.lb_webdav, "127.0.0.5", "from-5.txt", body) in ("201", "204")
    assert put(stack.lb_webdav, "127.0.0.7", "from-7.txt", body) in ("201", "204")
    sftp_write(stack.lb_sftp, "127.0.0.6", "from-6.txt", b"over sftp\n")
    writes = {e["path"]: e for e in stack.events(action="write")}
    assert writes["/from-5.txt"]["remote_addr"] == "127.0.0.5"
    assert writes["/from-7.txt"]["remote_addr"] == "127.0.0.7"
    assert writes["/from-6.txt"]["remote_addr"] == "127.0.0.6"
    logins = {e["remote_addr"] for e in stack.events(action="login")}
    assert "127.0.0.6" in logins and "127.0.0.1" not in logins


def test_untrusted_addresses_are_refused_with_or_without_a_header(stack: Stack) -> None:
    # a forged PROXY header from a client (not the load balancer): refused before TLS/SSH
    forged = proxy_v2("192.0.2.1", stack.webdav)
    assert closed_without_answer(connect_from("127.0.0.5", stack.webdav), forged)
    assert closed_without_answer(connect_from("127.0.0.5", stack.sftp),
                                 proxy_v2("192.0.2.1", stack.sftp))
    v1 = b"PROXY TCP4 192.0.2.1 127.0.0.1 1234 22\r\n"
    assert closed_without_answer(connect_from("127.0.0.5", stack.sftp), v1)
    # and without a header (a client going around the load balancer)
    assert curl(stack.webdav, "127.0.0.5").startswith("fail:")
    assert closed_without_answer(connect_from("127.0.0.5", stack.sftp),
                                 b"SSH-2.0-OpenSSH_9.2\r\n")


def test_the_trusted_address_must_send_a_header(stack: Stack) -> None:
    assert curl(stack.webdav, "127.0.0.1").startswith("fail:")
    assert closed_without_answer(connect_from("127.0.0.1", stack.sftp),
                                 b"SSH-2.0-OpenSSH_9.2\r\n")
    tls_hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40
    assert closed_without_answer(connect_from("127.0.0.1", stack.webdav), tls_hello)
    # a direct header from the trusted address works (what HAProxy does)
    with connect_from("127.0.0.1", stack.sftp) as sock:
        sock.sendall(b"PROXY TCP4 192.0.2.9 127.0.0.1 1234 22\r\n")
        assert sock.recv(64).startswith(b"SSH-2.0-")


def test_network_rules_apply_to_the_real_address(stack: Stack) -> None:
    stack.cli("policy", "set", "acme", "--networks", "127.0.0.5/32")
    try:
        assert curl(stack.lb_webdav, "127.0.0.5", "-X", "PROPFIND", "-H", "Depth: 0") == "207"
        assert curl(stack.lb_webdav, "127.0.0.8", "-X", "PROPFIND", "-H",
                    "Depth: 0") in ("401", "403")
        with pytest.raises(paramiko.AuthenticationException):
            sftp_write(stack.lb_sftp, "127.0.0.8", "no.txt", b"x")
    finally:
        stack.cli("policy", "set", "acme", "--networks", "any")
    denied = [e for e in stack.events(action="login") if e["result"] == "denied"]
    assert {e["remote_addr"] for e in denied} >= {"127.0.0.8"}
    assert "127.0.0.5" not in {e["remote_addr"] for e in denied}


def test_the_defender_bans_the_real_client_not_the_load_balancer(stack: Stack) -> None:
    for _ in range(4):  # defender_max_score = 3
        curl(stack.lb_webdav, "127.0.0.10", "-X", "PROPFIND", password="wrong-password")
    bans = stack.cli("defender", "list", "--json").stdout
    assert "127.0.0.10" in bans and "127.0.0.1\"" not in bans
    assert curl(stack.lb_webdav, "127.0.0.10", "-X", "PROPFIND", "-H",
                "Depth: 0") in ("401", "403")
    assert curl(stack.lb_webdav, "127.0.0.5", "-X", "PROPFIND", "-H", "Depth: 0") == "207"


def test_proxy_protocol_v1(stack: Stack, tmp_path: Path) -> None:
    lb_webdav, lb_sftp = stack.haproxy(version=1)
    body = tmp_path / "v1.txt"
    body.write_bytes(b"v1\n")
    assert put(lb_webdav, "127.0.0.11", "v1-11.txt", body) in ("201", "204")
    sftp_write(lb_sftp, "127.0.0.12", "v1-12.txt", b"v1 over sftp\n")
    writes = {e["path"]: e["remote_addr"] for e in stack.events(action="write")}
    assert writes["/v1-11.txt"] == "127.0.0.11"
    assert writes["/v1-12.txt"] == "127.0.0.12"


def test_the_documented_config_is_the_tested_one() -> None:
    docs = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert EXAMPLE.read_text(encoding="utf-8").strip() in docs


def test_a_silent_load_balancer_connection_is_closed_at_the_deadline(stack: Stack) -> None:
    """The header must arrive in time (webdav.handshake_timeout_s = 2 here; SFTP: 10 s)."""
    for port in (stack.webdav, stack.sftp):
        with connect_from("127.0.0.1", port) as sock:
            sock.settimeout(30)
            assert sock.recv(64) == b""


def test_openssh_sftp_through_haproxy(stack: Stack, tmp_path: Path) -> None:
    sftp, sshpass = shutil.which("sftp"), shutil.which("sshpass")
    if not (sftp and sshpass):
        pytest.skip("OpenSSH sftp and sshpass are needed (scripts/install-system-deps.sh)")
    (tmp_path / "openssh.txt").write_bytes(b"from OpenSSH\n")
    p = subprocess.run(
        [sshpass, "-e", sftp, "-o", "BindAddress=127.0.0.13", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
         "-o", "PreferredAuthentications=password", "-o", "BatchMode=no",
         "-P", str(stack.lb_sftp), "-b", "-", "alice@acme@127.0.0.1"],
        input="put openssh.txt\n", text=True, capture_output=True, cwd=tmp_path,
        env={**os.environ, "SSHPASS": PASSWORD}, timeout=120, start_new_session=True)
    assert p.returncode == 0, p.stderr
    writes = {e["path"]: e["remote_addr"] for e in stack.events(action="write")}
    assert writes["/openssh.txt"] == "127.0.0.13"
