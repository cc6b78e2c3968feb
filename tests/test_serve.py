"""``lumanox-gateway serve``: runs every front-end, stops cleanly, fails loudly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import localnet
import pytest
from localnet import free_port


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    def alive() -> None:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read() if proc.stderr else ''}")

    localnet.wait_port(port, timeout, alive)


def setup(tmp_path: Path, webdav_port: int, sftp_port: int) -> dict[str, str]:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(
        f'[gateway]\ndata_dir = "var"\n[audit]\nlog = "off"\n'
        f'[tls]\ncert_file = "certs/gw.crt"\nkey_file = "certs/gw.key"\n'
        f'[webdav]\nport = {webdav_port}\nworkers = 1\n'
        f'[sftp]\nport = {sftp_port}\nworkers = 1\n'
        f'host_keys = ["certs/ssh_host_ed25519_key", "certs/ssh_host_ecdsa_key"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env["LUMANOX_CONFIG"] = str(cfg)
    subprocess.run([sys.executable, "-m", "gateway", "init"], env=env, check=True,
                   capture_output=True, timeout=120)
    return env


def test_serve_runs_both_front_ends_and_stops_on_sigterm(tmp_path: Path) -> None:
    from gateway import sftp, webdav

    if not (webdav.AVAILABLE and sftp.AVAILABLE):
        pytest.fail("both front-ends must be available")
    wport, sport = free_port(), free_port()
    env = setup(tmp_path, wport, sport)
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(wport, proc)
        wait_port(sport, proc)
        with socket.create_connection(("127.0.0.1", sport), timeout=5) as s:
            assert s.recv(64).startswith(b"SSH-2.0-")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # every worker is gone: the ports are free again
    for port in (wport, sport):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))


def test_serve_fails_with_one_line_when_a_port_is_taken(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        env = setup(tmp_path, taken, free_port())
        p = subprocess.run([sys.executable, "-m", "gateway", "serve"], env=env,
                           capture_output=True, text=True, timeout=60)
    finally:
        blocker.close()
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert str(taken) in p.stderr, p.stderr
