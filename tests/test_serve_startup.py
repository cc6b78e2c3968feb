"""``serve`` start-up and restart: one readiness line once both ports accept; a reload
(SIGHUP) swaps the front-ends without refusing a single connection; the schema check
finds the migration head without alembic and still refuses an old schema."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from localnet import free_port
from test_serve import setup as init_gateway

from gateway.catalog.db import Catalog, migration_head
from gateway.errors import SchemaOutOfDate

READY = "lumanox-gateway: ready"
RELOADED = "lumanox-gateway: reloaded"


class Serve:
    """``lumanox-gateway serve`` with its standard output read line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: list[str] = []

    def wait_line(self, prefix: str, timeout: float = 90) -> str:
        """Block until a line starting with ``prefix`` is printed (fail if serve exits)."""
        assert self.proc.stdout is not None
        result: list[str] = []

        def read() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.lines.append(line.rstrip("\n"))
                if line.startswith(prefix):
                    result.append(line.strip())
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        assert result, f"no line {prefix!r} within {timeout} s; output: {self.lines}"
        return result[0]

    def children(self) -> set[int]:
        """Pids whose parent is the serve process (the front-ends)."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    found.add(int(stat.parent.name))
        return found

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _https_answers(port: int) -> str:
    """One request over TLS, no retry: the status line (raises if nothing accepts)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw) as tls:
        tls.sendall(b"OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return tls.recv(4096).split(b"\r\n", 1)[0].decode()


def _ssh_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(64)


def test_serve_prints_ready_once_both_ports_accept(tmp_path: Path) -> None:
    wport, sport = free_port(), free_port()
    serve = Serve(init_gateway(tmp_path, wport, sport))
    try:
        line = serve.wait_line(READY)
        # no waiting, no retry: at the moment the line is out, both protocols answer
        assert _https_answers(wport).startswith("HTTP/1.1 ")
        assert _ssh_banner(sport).startswith(b"SSH-2.0-")
        assert "webdav" in line and "sftp" in line, line
    finally:
        assert serve.stop() == 0, serve.lines


class _Prober:
    """Connects to the ports in a loop; counts connections that were refused."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.attempts = 0
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for port in self.ports:
                self.attempts += 1
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                except OSError as exc:
                    self.refused.append(f"{port}: {exc}")
            time.sleep(0.002)

    def __enter__(self) -> _Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_reload_on_sighup_replaces_front_ends_without_refusing_clients(
        tmp_path: Path) -> None:
    wport, sport = free_port(), free_port()
    serve = Serve(init_gateway(tmp_path, wport, sport))
    try:
        serve.wait_line(READY)
        before = serve.children()
        assert len(before) == 2, before
        with _Prober([wport, sport]) as prober:
            time.sleep(0.3)
            serve.proc.send_signal(signal.SIGHUP)
            serve.wait_line(RELOADED)
            time.sleep(0.5)  # the old generation is stopping now: keep probing
        assert serve.proc.poll() is None, serve.lines
        assert prober.refused == [], prober.refused[:5]
        assert prober.attempts > 20
        after = serve.children()
        assert len(after) == 2 and not (after & before), (before, after)
        assert _https_answers(wport).startswith("HTTP/1.1 ")
        assert _ssh_banner(sport).startswith(b"SSH-2.0-")
    finally:
        assert serve.stop() == 0, serve.lines
    for port in (wport, sport):  # every process of both generations is gone
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))


def test_failed_reload_keeps_the_running_generation(tmp_path: Path) -> None:
    wport, sport = free_port(), free_port()
    env = init_gateway(tmp_path, wport, sport)
    serve = Serve(env)
    try:
        serve.wait_line(READY)
        before = serve.children()
        cert = tmp_path / "certs" / "gw.crt"
        good = cert.read_bytes()
        cert.write_text("not a certificate\n")  # the new generation cannot start
        try:
            serve.proc.send_signal(signal.SIGHUP)
            line = serve.wait_line("lumanox-gateway: reload failed")
        finally:
            cert.write_bytes(good)
        assert "previous" in line, line
        assert serve.proc.poll() is None
        assert serve.children() == before
        assert _https_answers(wport).startswith("HTTP/1.1 ")
        assert _ssh_banner(sport).startswith(b"SSH-2.0-")
    finally:
        assert serve.stop() == 0, serve.lines


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_restart_after_the_supervisor_was_killed(tmp_path: Path) -> None:
    """A service manager restarts serve after SIGKILL: no orphan may keep the ports."""
    wport, sport = free_port(), free_port()
    env = init_gateway(tmp_path, wport, sport)
    first = Serve(env)
    try:
        first.wait_line(READY)
        front_ends = first.children()
        first.proc.kill()
        first.proc.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (_port_free(wport) and _port_free(sport)):
            time.sleep(0.1)
        assert _port_free(wport) and _port_free(sport), "orphaned front-ends keep the ports"
        second = Serve(env)
        try:
            second.wait_line(READY)
            assert _https_answers(wport).startswith("HTTP/1.1 ")
            assert _ssh_banner(sport).startswith(b"SSH-2.0-")
        finally:
            assert second.stop() == 0, second.lines
    finally:
        for pid in first.children() | (front_ends if "front_ends" in locals() else set()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def test_takeover_flag_from_outside_does_not_skip_the_port_check(tmp_path: Path) -> None:
    """Only serve's own reload may join a busy port; an inherited variable may not."""
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # like a running gateway
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        env = init_gateway(tmp_path, taken, free_port())
        env["LUMANOX_TAKEOVER"] = "1"
        p = subprocess.run([sys.executable, "-m", "gateway", "serve"], env=env,
                           capture_output=True, text=True, timeout=120)
    finally:
        blocker.close()
    assert p.returncode != 0, p.stdout
    assert f"{taken}" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_migration_head_read_from_files_matches_alembic() -> None:
    from alembic.script import ScriptDirectory

    catalog = Catalog("sqlite://")
    try:
        head = ScriptDirectory.from_config(catalog.alembic_config()).get_current_head()
    finally:
        catalog.dispose()
    assert migration_head() == head


def test_schema_check_still_refuses_an_older_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    catalog = Catalog(url)
    try:
        catalog.migrate()
        assert catalog.schema_status() == (migration_head(), migration_head())
        with catalog.write() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0002'")
        assert catalog.schema_status() == ("0002", migration_head())
        with pytest.raises(SchemaOutOfDate, match="0002"):
            catalog.ensure_schema(auto_migrate=False)
    finally:
        catalog.dispose()


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_importing_the_password_module_hashes_nothing() -> None:
    """Every process imports it at start-up; an argon2 run there cost 0.2 s each."""
    p = _run_python(
        "import argon2.low_level as low\n"
        "calls = []\n"
        "real = low.hash_secret\n"
        "low.hash_secret = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "import argon2._password_hasher as ph\n"
        "ph.hash_secret = low.hash_secret\n"
        "import gateway.policy.passwords\n"
        "print(len(calls))\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "0"


def test_unknown_user_check_uses_the_configured_argon2_parameters() -> None:
    """The dummy hash an unknown user is checked against costs what a real one costs."""
    p = _run_python(
        "import argon2\n"
        "from gateway.policy import passwords\n"
        "passwords.configure(1, 8192, 1)\n"
        "seen = []\n"
        "class Spy:\n"
        "    def __init__(self, real): self.real = real\n"
        "    def __getattr__(self, name): return getattr(self.real, name)\n"
        "    def verify(self, h, pw): seen.append(h); return self.real.verify(h, pw)\n"
        "passwords._hasher = Spy(passwords._hasher)\n"
        "assert passwords.verify_password(None, 'no-such-user-pw') is False\n"
        "p = argon2.extract_parameters(seen[0])\n"
        "print(p.time_cost, p.memory_cost, p.parallelism)\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "8192", "1"]


def test_schema_check_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    """Every process checks the schema at start-up; alembic's scripts cost 0.2 s."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    catalog = Catalog(url)
    catalog.migrate()
    catalog.dispose()
    p = _run_python(
        "import sys\n"
        "from gateway.catalog.db import Catalog\n"
        f"c = Catalog({url!r})\n"
        "c.ensure_schema(auto_migrate=False)\n"
        "c.dispose()\n"
        "print(sorted(m for m in sys.modules if m.startswith('alembic')))\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_systemd_ready_notification_comes_when_both_ports_accept(tmp_path: Path) -> None:
    """Type=notify: READY=1 once both ports answer; RELOADING=1 then READY=1 on SIGHUP."""
    wport, sport = free_port(), free_port()
    env = init_gateway(tmp_path, wport, sport)
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(90)
    env["NOTIFY_SOCKET"] = str(notify_path)
    serve = Serve(env)
    try:
        assert listener.recv(256) == b"READY=1"
        assert _https_answers(wport).startswith("HTTP/1.1 ")
        assert _ssh_banner(sport).startswith(b"SSH-2.0-")
        serve.proc.send_signal(signal.SIGHUP)
        assert listener.recv(256) == b"RELOADING=1"
        assert listener.recv(256) == b"READY=1"
        serve.proc.send_signal(signal.SIGTERM)
        assert listener.recv(256) == b"STOPPING=1"
    finally:
        assert serve.stop() == 0, serve.lines
        listener.close()
