"""Issue #10.2: a client that cannot negotiate must leave a trace an admin can act on.

Before, asyncssh dropped such a connection and the gateway logged and audited nothing.
Now every connection that ends after the client's KEXINIT but before the first key
exchange completed gives a warning log line and an audit event (action ``negotiate``,
result ``failed``) with the client's banner (escaped) and the algorithms it offered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import time

import asyncssh
import pytest

from .conftest import PW, SecGateway, need

pytestmark = pytest.mark.timeout(180)


def _negotiations(gw: SecGateway, needle: str, timeout: float = 10) -> list[dict]:
    """``negotiate``/``failed`` audit events whose reason contains ``needle``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in gw.audit_events(action="negotiate", result="failed")
                 if needle in (e.get("reason") or "")]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_cbc_only_client_is_audited_and_logged(secgw: SecGateway) -> None:
    async def attempt() -> None:
        await asyncssh.connect("127.0.0.1", secgw.sftp_port, username="alice@acme",
                               password=PW, known_hosts=None, client_keys=None,
                               agent_path=None, config=None, encryption_algs=["aes128-cbc"],
                               client_version="PartnerEDI_4.2")

    with pytest.raises((asyncssh.KeyExchangeFailed, asyncssh.ConnectionLost)):
        asyncio.run(attempt())
    events = _negotiations(secgw, "PartnerEDI_4.2")
    assert events, secgw.audit_events(action="negotiate")
    reason = events[-1]["reason"]
    assert "client=SSH-2.0-PartnerEDI_4.2" in reason
    assert "ciphers=aes128-cbc" in reason
    assert "no common ciphers: server offers aes128-gcm@openssh.com" in reason
    assert events[-1]["remote_addr"] == "127.0.0.1"
    assert events[-1]["protocol"] == "sftp"
    deadline = time.monotonic() + 5
    while "PartnerEDI_4.2" not in secgw.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    line = next(x for x in secgw.output().splitlines() if "PartnerEDI_4.2" in x)
    assert "key exchange with 127.0.0.1 failed" in line and "ciphers=aes128-cbc" in line


def test_sha1_mac_openssh_client_is_audited(secgw: SecGateway) -> None:
    ssh = need("ssh")
    r = subprocess.run([ssh, "-o", "StrictHostKeyChecking=no", "-o",
                        "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o",
                        "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1", "-p",
                        str(secgw.sftp_port), "alice@acme@127.0.0.1", "true"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    events = _negotiations(secgw, "macs=hmac-sha1")
    assert events
    assert "client=SSH-2.0-OpenSSH_" in events[-1]["reason"]
    assert "no common macs: server offers " in events[-1]["reason"]


def _name_list(names: str) -> bytes:
    raw = names.encode()
    return struct.pack(">I", len(raw)) + raw


def _kexinit_packet(kex: str, hostkeys: str, cipher: str, mac: str) -> bytes:
    payload = (b"\x14" + os.urandom(16) + _name_list(kex) + _name_list(hostkeys)
               + _name_list(cipher) * 2 + _name_list(mac) * 2 + _name_list("none") * 2
               + _name_list("") * 2 + b"\x00" + b"\x00\x00\x00\x00")
    padding = 8 - (len(payload) + 5) % 8
    if padding < 4:
        padding += 8
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + bytes(padding)


def test_hostile_banner_is_escaped(secgw: SecGateway) -> None:
    """A raw client with control characters in its banner: the audit reason and the log
    line carry it escaped, never raw (no terminal escapes, no forged log lines)."""
    banner = b"SSH-2.0-Evil\x1b[31mTool\x07fake\r\n"
    with socket.create_connection(("127.0.0.1", secgw.sftp_port), timeout=10) as sock:
        sock.sendall(banner)
        sock.sendall(_kexinit_packet("diffie-hellman-group1-sha1", "ssh-dss", "3des-cbc",
                                     "hmac-md5"))
        sock.settimeout(10)
        with contextlib.suppress(OSError):  # the server closes (or resets) the connection
            while sock.recv(4096):
                pass
    events = _negotiations(secgw, "Evil")
    assert events
    reason = events[-1]["reason"]
    assert "\x1b" not in reason and "\x07" not in reason
    assert "Evil\\x1b[31mTool\\x07fake" in reason
    assert "kex=diffie-hellman-group1-sha1" in reason and "ciphers=3des-cbc" in reason
    output = secgw.output()
    assert "\x1b[31m" not in output
    assert "Evil\\x1b[31mTool" in output


def test_port_scan_without_kexinit_is_not_audited(secgw: SecGateway) -> None:
    before = len(secgw.audit_events(action="negotiate"))
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", secgw.sftp_port), timeout=10) as sock:
            sock.recv(256)  # the server banner, then close
    time.sleep(1.0)
    assert len(secgw.audit_events(action="negotiate")) == before


def test_curl_libssh2_against_modern_profile_is_explained(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """The partner case of the issue: libssh2 (Debian's curl) against the strict profile."""
    gw = make_gateway(sftp_extra='profile = "modern"')
    curl = need("curl")
    r = subprocess.run([curl, "-sS", "-k", "--max-time", "30", "-u", f"alice@acme:{PW}",
                        f"sftp://127.0.0.1:{gw.sftp_port}/"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    events = _negotiations(gw, "libssh2")
    assert events, gw.audit_events()
    reason = events[-1]["reason"]
    assert "client=SSH-2.0-libssh2_" in reason
    assert "aes128-ctr" in reason  # what it offered, so the admin sees the mismatch
