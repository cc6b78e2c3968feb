"""Terminal escape injection into the admin's terminal (issue #9, item 17).

A client controls strings the gateway stores: its SSH banner and HTTP User-Agent (kept in
the login's audit record) and file names (C1 controls such as U+009B, a one-character
CSI, and bidi overrides pass name validation). ``audit tail``, ``audit query`` and
``files ls`` must print them escaped, never raw, whatever the format.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys

import paramiko

from .conftest import PW, ROOT, SecGateway

ESC_UA = "evil\x1b]0;owned\x07\x1b[2J\x1b[31mUA"
ESC_BANNER = "SSH-2.0-evil\x1b[2J\x1b]0;owned\x07banner"
# CSI as one C1 character, a bidi override and a DEL
NASTY_NAME = "report\u009b2Jx\u202egpj.exe"

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def cli(gw: SecGateway, *args: str) -> str:
    """``lumanox-gateway ARGS`` against the running gateway's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env.update(LUMANOX_CONFIG=str(gw.config_path), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def ssh_login_with_banner(gw: SecGateway) -> None:
    sock = socket.create_connection(("127.0.0.1", gw.sftp_port), timeout=20)
    transport = paramiko.Transport(sock)
    transport.local_version = ESC_BANNER
    try:
        transport.start_client(timeout=20)
        transport.auth_password("alice@acme", PW)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        sftp.putfo(io.BytesIO(b"x"), "/" + NASTY_NAME)
        sftp.close()
    finally:
        transport.close()


def test_client_controlled_strings_are_escaped_in_cli_output(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway()
    r = gw.curl("-A", ESC_UA, "-o", "/dev/null", "-w", "%{http_code}", "/",
                login="alice@acme")
    assert r.stdout.strip() in ("200", "207", "405"), r.stdout + r.stderr
    ssh_login_with_banner(gw)
    logins = gw.wait_audit(action="login", result="ok", protocol="ssh")
    assert logins and any("\x1b[2J" in (e.get("reason") or "") for e in logins), \
        "the banner did not reach the audit record: nothing to test"
    gw.wait_audit(action="login", protocol="webdav")
    gw.wait_audit(action="write", protocol="sftp")

    tail = cli(gw, "audit", "tail", "-n", "50")
    assert not RAW.search(tail), f"raw control characters in `audit tail`: {tail!r}"
    assert "\\x1b[2J" in tail and "\\x1b]0;owned\\x07" in tail  # visible, escaped
    assert "\\x9b2J" in tail and "\\u202e" in tail
    for fmt in ("table", "csv"):
        out = cli(gw, "audit", "query", "--format", fmt)
        assert not RAW.search(out), f"raw control characters in query {fmt}: {out!r}"
    for fmt in ("json", "jsonl"):
        out = cli(gw, "audit", "query", "--format", fmt)
        assert not RAW.search(out), f"raw control characters in query {fmt}: {out!r}"
        assert "\\u001b[2J" in out  # JSON keeps the exact value, escaped the JSON way
    doc = json.loads(cli(gw, "audit", "query", "--format", "json"))
    assert any(ESC_UA in (e["reason"] or "") for e in doc), "JSON must stay lossless"
    listing = cli(gw, "files", "ls", "alice@acme", "/")
    assert not RAW.search(listing) and "report\\x9b2Jx\\u202egpj.exe" in listing
    as_json = cli(gw, "files", "ls", "alice@acme", "/", "--json")
    assert not RAW.search(as_json)
    assert NASTY_NAME in [e["name"] for e in json.loads(as_json)]
