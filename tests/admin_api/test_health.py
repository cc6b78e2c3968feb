"""``/healthz`` and ``/readyz`` of a running admin API, TLS by default, and the 503 that
names the failing check (here: the SFTP listener that does not accept)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from localnet import free_port, wait_port

from gateway.admin_api.server import check_config
from gateway.config import AdminAPISection, load_config
from gateway.webdav.server import StartupError
from tests.admin_api.conftest import Api, env_for, write_config


def test_probes_need_no_token_and_reveal_nothing(api: Api) -> None:
    r = api.call("GET", "/healthz", None)
    assert (r.status_code, r.text) == (200, "ok\n")
    r = api.call("GET", "/readyz", None)
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    assert r.headers["Server"] == "lumanox"
    assert not api.call("GET", "/readyz", None, headers={"Authorization": "Bearer x"}).json(
        ).get("failed")


def test_tls_is_on_by_default(api: Api) -> None:
    assert AdminAPISection().tls is True
    # the gateway's certificate verifies for 127.0.0.1 (Api.call passes it as the CA)
    assert api.call("GET", "/healthz", None).status_code == 200
    plain = requests.get(f"http://127.0.0.1:{api.port}/healthz", timeout=10)
    assert plain.status_code == 400 and "HTTPS only" in plain.text


def test_plain_http_is_refused_off_loopback(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"webdav": 1, "sftp": 2, "admin_api": 3},
                        extra='host = "0.0.0.0"\ntls = false\n')
    with pytest.raises(StartupError, match="only allowed on a loopback"):
        check_config(load_config(path))


def test_readyz_names_a_listener_that_does_not_accept(api: Api, tmp_path: Path) -> None:
    """The admin API alone (``python -m gateway.admin_api``) over the same catalog, with
    SFTP enabled on a port nobody listens on: 503 "sftp listener" until something does."""
    import shutil

    base = tmp_path / "gw"
    shutil.copytree(api.config.parent, base, ignore=shutil.ignore_patterns("*.pid"))
    sftp_port, port = free_port(), free_port()
    (base / "gateway.toml").write_text(
        (base / "gateway.toml").read_text().replace(
            f"port = {load_config(api.config).sftp.port}", f"port = {sftp_port}").replace(
            f"port = {api.port}", f"port = {port}").replace(
            "[webdav]\n", "[webdav]\nenabled = false\n"))
    proc = subprocess.Popen([sys.executable, "-m", "gateway.admin_api"],
                            env=env_for(base / "gateway.toml"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, 60)
        url, ca = f"https://127.0.0.1:{port}/readyz", str(base / "certs" / "gw.crt")
        r = requests.get(url, verify=ca, timeout=10)
        assert r.status_code == 503
        assert r.json() == {"status": "not ready", "failed": "sftp listener"}
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", sftp_port))
            listener.listen()
            r = requests.get(url, verify=ca, timeout=10)
            assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_status_shows_the_admin_api_running(api: Api) -> None:
    import json

    out = subprocess.run([sys.executable, "-m", "gateway", "status", "--json"],
                         env=env_for(api.config), capture_output=True, text=True, timeout=120)
    fe = json.loads(out.stdout)["front_ends"]["admin_api"]
    assert fe["configured"] is True and fe["running"] is True
    assert fe["address"] == f"127.0.0.1:{api.port}"


def test_a_slow_client_is_disconnected(api: Api) -> None:
    """A request head trickling in a byte at a time is cut off once the head deadline
    (admin_api.request_timeout_s, 2 s here) passes, instead of holding a request thread;
    the client keeps sending for up to 30 s (each byte well inside the socket timeout)."""
    import ssl

    ctx = ssl.create_default_context(cafile=str(api.ca))
    answer, cut_off = b"", False
    with socket.create_connection(("127.0.0.1", api.port), timeout=60) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        tls.settimeout(0.5)
        for _ in range(60):
            try:
                tls.sendall(b"a")
                chunk = tls.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # reset after the answer
                cut_off = True
                break
            answer += chunk
            if not chunk or answer:
                cut_off = True
                break
    assert cut_off, "the server kept waiting for a trickling request head"
    assert not answer or answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert api.call("GET", "/healthz", None).status_code == 200  # others still served
