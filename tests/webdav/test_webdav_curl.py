"""curl against the running gateway: Range, chunked PUT, cut uploads, auth, quota."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PASSWORDS, Gateway, require_tool
from davclient import DavClient


def curl(gw: Gateway, *args: str, login: str = "alice@acme", password: str | None = None,
         timeout: float = 120) -> tuple[int, bytes]:
    """Run curl; returns (HTTP status or 0, body)."""
    exe = require_tool("curl")
    pw = PASSWORDS[login] if password is None else password
    out = subprocess.run([exe, "-sk", "-u", f"{login}:{pw}", "-w", "\n%{http_code}", *args],
                         capture_output=True, timeout=timeout)
    body, _, code = out.stdout.rpartition(b"\n")
    return int(code or 0), body


def test_curl_range_get(gateway: Gateway, alice: DavClient, folder: str) -> None:
    data = os.urandom(1 << 20)
    alice.put(f"{folder}/range.bin", data)
    status, body = curl(gateway, "-r", "1000-1999", f"{gateway.url}{folder}/range.bin")
    assert status == 206 and body == data[1000:2000]
    status, body = curl(gateway, "-r", "1048000-", f"{gateway.url}{folder}/range.bin")
    assert status == 206 and body == data[1048000:]
    status, _ = curl(gateway, "-H", "Range: bytes=2000000-3000000",
                     f"{gateway.url}{folder}/range.bin")
    assert status == 416
    # several ranges: the whole file with 200, never a 206 holding only the first part
    status, body = curl(gateway, "-r", "0-9,5000-5009", f"{gateway.url}{folder}/range.bin")
    assert status == 200 and body == data


def test_curl_chunked_put(gateway: Gateway, alice: DavClient, folder: str,
                          tmp_path: Path) -> None:
    src = tmp_path / "chunked.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    status, _ = curl(gateway, "-H", "Transfer-Encoding: chunked", "-T", str(src),
                     f"{gateway.url}{folder}/chunked.bin")
    assert status == 201
    assert alice.get(f"{folder}/chunked.bin").body == data


def test_curl_put_cut_off_mid_body_keeps_previous_version(
        gateway: Gateway, alice: DavClient, folder: str, tmp_path: Path) -> None:
    path = f"{folder}/precious.txt"
    alice.put(path, b"the previous version")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(4 * 1024 * 1024))
    # curl declares 4 MiB, sends ~1 MiB at 512 KiB/s, then gives up and drops the connection
    status, _ = curl(gateway, "--limit-rate", "512k", "--max-time", "2", "-T", str(big),
                     f"{gateway.url}{path}")
    assert status != 201 and status != 204
    time.sleep(0.5)
    r = alice.get(path)
    assert r.status == 200 and r.body == b"the previous version"
    events = [line for line in gateway.audit_log.read_text().splitlines()
              if f'"path": "{path}"' in line and '"action": "write"' in line]
    assert any('"result": "error"' in e and "incomplete" in e for e in events)


def _raw_put(gw: Gateway, headers: str, body: bytes, *, complete: bool) -> bytes:
    """Send a PUT as raw bytes; a complete one returns the reply, an incomplete one drops
    the connection (the server sees the body end early)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    auth = base64.b64encode(f"alice@acme:{PASSWORDS['alice@acme']}".encode()).decode()
    with socket.create_connection(("127.0.0.1", gw.port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(f"{headers}Host: x\r\nAuthorization: Basic {auth}\r\n\r\n".encode() + body)
        if not complete:
            time.sleep(0.2)
            return b""
        s.settimeout(30)
        return s.recv(65536)


@pytest.mark.parametrize("kind", ["short-content-length", "cut-chunked", "finder-short"])
def test_truncated_bodies_never_replace_a_file(gateway: Gateway, alice: DavClient,
                                               folder: str, kind: str) -> None:
    """Plain wsgidav truncates the file in all three cases; the gateway keeps it."""
    path = f"{folder}/{kind}.txt"
    alice.put(path, b"ORIGINAL")
    if kind == "short-content-length":
        _raw_put(gateway, f"PUT {path} HTTP/1.1\r\nContent-Length: 1000000\r\n",
                 b"x" * 100_000, complete=False)
    elif kind == "cut-chunked":
        _raw_put(gateway, f"PUT {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
                 b"1000\r\n" + b"y" * 4096 + b"\r\n1000\r\n" + b"y" * 100, complete=False)
    else:  # macOS Finder: chunked with X-Expected-Entity-Length, complete chunks, too short
        reply = _raw_put(gateway, f"PUT {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                                  "X-Expected-Entity-Length: 9000\r\n",
                         b"1000\r\n" + b"z" * 4096 + b"\r\n0\r\n\r\n", complete=True)
        assert reply.startswith(b"HTTP/1.1 400")
    time.sleep(0.3)
    assert alice.get(path).body == b"ORIGINAL"


def test_finder_expected_entity_length_complete(gateway: Gateway, alice: DavClient,
                                                folder: str) -> None:
    path = f"{folder}/finder.txt"
    reply = _raw_put(gateway, f"PUT {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                              "X-Expected-Entity-Length: 4096\r\n",
                     b"1000\r\n" + b"f" * 4096 + b"\r\n0\r\n\r\n", complete=True)
    assert reply.startswith(b"HTTP/1.1 201")
    assert alice.get(path).body == b"f" * 4096


def test_curl_wrong_password(gateway: Gateway) -> None:
    status, body = curl(gateway, f"{gateway.url}/", password="wrong-password")
    assert status == 401 and b"wrong-password" not in body


def test_curl_tenant_without_webdav(gateway: Gateway) -> None:
    status, _ = curl(gateway, f"{gateway.url}/", login="bob@nodav")
    assert status == 403


def test_curl_over_quota_upload(gateway: Gateway, tmp_path: Path) -> None:
    src = tmp_path / "too-big.bin"
    src.write_bytes(os.urandom(400 * 1024))
    status, _ = curl(gateway, "-T", str(src), f"{gateway.url}/too-big.bin", login="dave@acme")
    assert status == 507
    assert gateway.client("dave@acme").get("/too-big.bin").status == 404
