"""``python -m gateway.webdav``: one "listening" line, workers, clean SIGTERM, and one clear
line (exit 2, no traceback) when it cannot start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, Gateway, free_port, start_gateway, write_config


def run_expecting_failure(config: Path) -> tuple[int, str]:
    env = dict(os.environ, LUMANOX_CONFIG=str(config), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "gateway.webdav"], env=env, cwd=ROOT,
                         capture_output=True, timeout=60)
    return out.returncode, (out.stdout + out.stderr).decode()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_listening_line_workers_and_sigterm(gateway_dir: Path) -> None:
    cfg = write_config(gateway_dir.parent, free_port(), name="gw-sig.toml", workers=3)
    gw = start_gateway(cfg)
    try:
        assert f"listening on https://127.0.0.1:{gw.port}/ (3 workers)" in gw.lines[-1]
        assert len(_children(gw.proc.pid)) == 3
        assert gw.client().request("PROPFIND", "/", headers={"Depth": "0"}).status == 207
    finally:
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=30) == 0


def test_busy_port_is_one_clear_line(gateway: Gateway) -> None:
    cfg = write_config(gateway.base, gateway.port, name="gw-busy.toml")
    code, out = run_expecting_failure(cfg)
    assert code == 2
    assert "cannot listen on 127.0.0.1" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_bad_certificate_is_one_clear_line(gateway_dir: Path, tmp_path: Path) -> None:
    base = gateway_dir.parent
    bad = base / "certs" / "broken.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    cfg = write_config(base, free_port(), name="gw-badcert.toml")
    text = cfg.read_text().replace('cert_file = "certs/gateway.crt"',
                                   'cert_file = "certs/broken.crt"')
    cfg.write_text(text)
    code, out = run_expecting_failure(cfg)
    assert code == 2 and "TLS certificate" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_plain_http_only_on_loopback(gateway_dir: Path) -> None:
    base = gateway_dir.parent
    cfg = write_config(base, free_port(), name="gw-plain.toml", tls=False)
    cfg.write_text(cfg.read_text().replace('host = "127.0.0.1"', 'host = "0.0.0.0"'))
    code, out = run_expecting_failure(cfg)
    assert code == 2 and "only allowed on a loopback" in out and "Traceback" not in out


def test_plain_http_on_loopback_when_enabled(gateway_dir: Path) -> None:
    cfg = write_config(gateway_dir.parent, free_port(), name="gw-plain-lo.toml", tls=False,
                       workers=1)
    gw = start_gateway(cfg, tls=False)
    try:
        assert "listening on http://127.0.0.1" in gw.lines[-1]
        assert gw.client().request("PROPFIND", "/", headers={"Depth": "0"}).status == 207
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5):
            pass
    finally:
        gw.stop()
    time.sleep(0.1)


def test_sigterm_during_startup_leaves_no_worker_behind(gateway_dir: Path) -> None:
    port = free_port()
    cfg = write_config(gateway_dir.parent, port, name="gw-early.toml", workers=2)
    env = dict(os.environ, LUMANOX_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "gateway.webdav"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not _children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)  # while the workers are still starting
    assert proc.wait(timeout=30) == 0
    time.sleep(0.5)
    assert workers and not any(Path(f"/proc/{w}").exists() and
                               "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]
                               for w in workers)
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
