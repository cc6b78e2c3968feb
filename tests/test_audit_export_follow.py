"""``audit export --follow`` to stdout for a SIEM: every event exactly once per cursor file,
across a kill -9 and a restart; ``--format cef`` lines that parse as CEF; a clean stop on
SIGTERM. The exporter is the real command, run as a subprocess."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import CLI, CliEnv, clean_env
from sqlalchemy import select

from gateway import admin
from gateway.auditv2.cef import cef_line
from gateway.catalog.tables import audit_events
from gateway.config import load_config
from gateway.core import Core

_PAIR = re.compile(r"(?:^| )([A-Za-z0-9]+)=((?:[^\\=]|\\.)*?)(?= [A-Za-z0-9]+=|$)")
_UNESCAPE = {"\\": "\\", "=": "=", "|": "|", "n": "\n", "r": "\r"}


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """(the 7 header fields, the extension) of one CEF line, unescaped as the spec says."""
    assert line.startswith("CEF:0|"), line
    fields, cur, i = [], "", 0
    while len(fields) < 7:
        ch = line[i]
        if ch == "\\":
            assert line[i + 1] in "\\|", f"bad header escape in {line!r}"
            cur, i = cur + line[i + 1], i + 2
        elif ch == "|":
            fields, cur, i = [*fields, cur], "", i + 1
        else:
            cur, i = cur + ch, i + 1
    ext_text = line[i:].rstrip("\n")
    assert "\n" not in ext_text and "\r" not in ext_text
    ext = {}
    for key, raw in _PAIR.findall(ext_text):
        ext[key] = re.sub(r"\\(.)", lambda m: _UNESCAPE[m.group(1)], raw)
    assert " ".join(f"{k}=" for k in ext) and len(ext) == ext_text.count("=") - \
        ext_text.count("\\="), f"unparsed extension text: {ext_text!r}"
    return fields, ext


def test_cef_escaping_round_trips() -> None:
    nasty = "a\\b|c=d\ne\rf"
    row = {"ts": datetime(2026, 12, 6, 10, 0, tzinfo=UTC), "seq": 7, "action": "odd|act\\x",
           "result": "denied", "protocol": "admin", "user": "u=1", "remote_addr": "203.0.113.9",
           "path": "/x y/z=|.txt", "reason": nasty, "bytes": 12, "tenant": "acme",
           "session_id": None, "dest_path": None, "sha256": None, "hash": "ab" * 32,
           "duration_ms": 3}
    line = cef_line(row, "chain1")
    assert line.endswith("\n") and line.count("\n") == 1
    head, ext = parse_cef(line)
    assert head[:4] == ["CEF:0", "Lumanox", "Gateway", "1"]
    assert head[4] == "odd|act\\x" and head[5] == "odd|act\\x denied" and head[6] == "7"
    assert ext["reason"] == nasty and ext["suser"] == "u=1" and ext["filePath"] == row["path"]
    assert ext["externalId"] == "chain1:7" and ext["src"] == "203.0.113.9"
    assert ext["rt"] == str(int(row["ts"].timestamp() * 1000))
    assert "cs2Label" not in ext  # no session id: neither label nor value


class Exporter:
    """``audit export --follow`` as a subprocess; its stdout lines collected by a thread."""

    def __init__(self, gw: CliEnv, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "audit", "export", "--follow", "--interval", "0.2", *args],
            cwd=gw.base, env=clean_env(LUMANOX_CONFIG=str(gw.config)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line)

    def wait_error(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in e for e in self.errors):
            assert self.proc.poll() is None, f"exited: {self.errors}"
            assert time.monotonic() < deadline, f"no {text!r} on stderr: {self.errors}"
            time.sleep(0.1)

    def take(self, n: int, timeout: float = 60) -> list[str]:
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n:
            try:
                got.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"only {len(got)} of {n} lines: {got}") from None
        return got

    def quiet(self, seconds: float = 1.0) -> list[str]:
        """Whatever else arrives within ``seconds`` (expected: nothing)."""
        time.sleep(seconds)
        extra = []
        while not self.lines.empty():
            extra.append(self.lines.get())
        return extra


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _make_events(gw: CliEnv, first: int, n: int) -> None:
    """n admin events in tenant acme, one with a reason full of CEF specials."""
    with Core.open(load_config(gw.config), audit_log="off") as core:
        for i in range(first, first + n):
            admin.record_admin_action(core, "siem-test", tenant="acme", path=f"item-{i}",
                                      reason=f"n={i} | a\\b\nsecond line")


def _catalog_ids(gw: CliEnv, heads: dict[str, int]) -> set[str]:
    with Core.open(load_config(gw.config), audit_log="off") as core, \
            core.catalog.read() as conn:
        rows = conn.execute(select(audit_events.c.chain, audit_events.c.seq)).all()
    return {f"{c}:{s}" for c, s in rows if s > heads.get(c, 0)}


@pytest.fixture
def gw(tmp_path: Path) -> CliEnv:
    env = CliEnv(tmp_path)
    env.run("init")
    env.run("tenant", "create", "acme")
    return env


def test_follow_cef_exactly_once_across_kill_and_restart(gw: CliEnv) -> None:
    cursor = gw.base / "siem.cursor"
    first = Exporter(gw, "--format", "cef", "--since-cursor", str(cursor))
    try:
        _wait_for(cursor)  # a new cursor on stdout starts at the current heads
        heads = json.loads(cursor.read_text())["chains"]
        _make_events(gw, 0, 5)
        lines = first.take(5)
        assert first.quiet() == []  # each once
    finally:
        first.proc.kill()  # kill -9: no chance to tidy up
        first.proc.wait()
    _make_events(gw, 5, 7)  # while no exporter runs
    second = Exporter(gw, "--format", "cef", "--since-cursor", str(cursor))
    try:
        lines += second.take(7)
        _make_events(gw, 12, 3)  # while it runs
        lines += second.take(3)
        assert second.quiet() == []
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=30) == 0
        assert not any("Traceback" in e for e in second.errors)
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
    parsed = [parse_cef(line) for line in lines]
    ids = [ext["externalId"] for _, ext in parsed]
    assert len(ids) == len(set(ids)) == 15, "an event was exported twice"
    assert set(ids) == _catalog_ids(gw, heads), "a gap: an event of the catalog is missing"
    items = sorted(int(ext["filePath"].split("-")[1]) for _, ext in parsed)
    assert items == list(range(15))
    head, ext = parsed[0]
    assert head[4] == "siem-test" and head[3] == "1"
    assert ext["reason"] == "n=0 | a\\b\nsecond line" and ext["cs1"] == "acme"


def test_follow_json_from_start_and_a_cursor_keeps_its_format(gw: CliEnv) -> None:
    cursor = gw.base / "json.cursor"
    exporter = Exporter(gw, "--since-cursor", str(cursor), "--from-start")
    try:
        history = [json.loads(x) for x in exporter.take(2)]  # the whole trail so far
        assert [e["action"] for e in history] == ["init", "tenant-create"]
        _make_events(gw, 0, 2)
        rest = [json.loads(x) for x in exporter.take(2)]
        assert exporter.quiet(0.5) == []
    finally:
        exporter.proc.send_signal(signal.SIGINT)
        assert exporter.proc.wait(timeout=30) == 0
    assert [e["path"] for e in rest if e["action"] == "siem-test"] == ["item-0", "item-1"]
    p = gw.run("audit", "export", "--format", "cef", "--since-cursor", str(cursor), ok=False)
    assert p.returncode != 0 and "json stream, not cef" in p.stderr
    p = gw.run("audit", "export", ok=False)
    assert p.returncode != 0 and "--since-cursor" in p.stderr


def _wait_lines(path: Path, n: int, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n:
            return lines
        assert time.monotonic() < deadline, f"{len(lines)} of {n} lines in {path}"
        time.sleep(0.1)


def test_follow_to_a_file_in_cef_survives_kill_9(gw: CliEnv) -> None:
    out = gw.base / "siem.cef"
    first = Exporter(gw, "--output", str(out), "--format", "cef")
    try:
        _make_events(gw, 0, 4)
        _wait_lines(out, 6)  # init, tenant-create and the 4
    finally:
        first.proc.kill()
        first.proc.wait()
    _make_events(gw, 4, 4)
    second = Exporter(gw, "--output", str(out), "--format", "cef")
    try:
        _wait_lines(out, 10)
        time.sleep(1)  # a few more rounds: nothing repeated
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=30) == 0
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
    ids = [parse_cef(line + "\n")[1]["externalId"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 10
    assert set(ids) == _catalog_ids(gw, {})


def test_follow_rides_out_a_lost_database(tmp_path: Path, pg_url: str) -> None:
    """PostgreSQL refuses connections for a while: the follower says so once, retries, and
    goes on from its cursor when the database is back."""
    import psycopg

    from tests.conftest import PG_ADMIN_URL, _truncate_all

    _truncate_all(pg_url)
    gw = CliEnv(tmp_path, pg_url)
    gw.run("init")
    gw.run("tenant", "create", "acme")
    cursor = tmp_path / "siem.cursor"
    exporter = Exporter(gw, "--since-cursor", str(cursor))
    name = pg_url.rsplit("/", 1)[1]
    admin_dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        _wait_for(cursor)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        exporter.wait_error("retrying")
        time.sleep(1)  # more rounds fail: said once
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        assert exporter.proc.poll() is None, "the follower gave up"
        _make_events(gw, 0, 3)
        got = [json.loads(x)["path"] for x in exporter.take(3)]
        assert got == ["item-0", "item-1", "item-2"]
        exporter.proc.send_signal(signal.SIGTERM)
        assert exporter.proc.wait(timeout=30) == 0
        assert sum("retrying" in e for e in exporter.errors) == 1, exporter.errors
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        if exporter.proc.poll() is None:
            exporter.proc.kill()
