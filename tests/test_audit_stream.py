"""The JSON-lines audit stream is an export of the catalog: complete after a crash,
exactly once, one exporter at a time, and an existing file is never cut."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from security.conftest import prepare_gateway, standard_cast
from sqlalchemy import select

from gateway.audit import AuditEvent
from gateway.catalog.tables import audit_events
from gateway.config import load_config
from gateway.core import Core
from tests.cli_runner import clean_env


def _lines(path: Path) -> list[dict]:
    """Complete lines only (an exporter may be writing)."""
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.split("\n")[:-1]]


def _stored(config_path: Path) -> list[tuple[str, int]]:
    with Core.open(load_config(config_path), audit_log="off") as core, \
            core.catalog.read() as conn:
        return sorted(tuple(r) for r in conn.execute(
            select(audit_events.c.chain, audit_events.c.seq)))


def _wait_for(check, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_events_committed_by_a_crashed_worker_reach_the_stream_exactly_once(
        tmp_path: Path) -> None:
    gw = prepare_gateway(tmp_path / "gw", standard_cast)
    stream = gw.base / "audit.jsonl"
    # a worker that committed these and died before anything else saw them
    with Core.open(load_config(gw.config_path), audit_log="off") as core:
        core.audit.write_now([AuditEvent(action="read", protocol="sftp", chain="-",
                                         reason=f"before-crash-{i}") for i in range(3)])
    assert not any(str(e.get("reason")).startswith("before-crash") for e in _lines(stream))
    gw.start()
    try:
        assert _wait_for(lambda: sum(str(e.get("reason")).startswith("before-crash")
                                     for e in _lines(stream)) == 3), _lines(stream)[-5:]
        assert gw.curl("-o", "/dev/null", "-w", "%{http_code}", "/",
                       login="alice@acme").stdout == "200"
        # the serve supervisor exports on its own (the test does not run an export)
        assert _wait_for(lambda: any(e["action"] == "login" and e["user"] == "alice"
                                     for e in _lines(stream)))
    finally:
        gw.stop()
    exported = [(e["chain"], e["seq"]) for e in _lines(stream)]
    assert len(exported) == len(set(exported)), "an event was exported twice"
    assert sorted(exported) == _stored(gw.config_path)
    assert all(len(e["hash"]) == 64 for e in _lines(stream))


def test_exporters_of_one_cursor_take_turns(tmp_path: Path) -> None:
    gw = prepare_gateway(tmp_path / "gw", standard_cast)
    out = tmp_path / "export.jsonl"
    lock = os.open(str(out) + ".cursor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another exporter is in the middle of a round
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "audit", "export", "--output",
                             str(out)], env=clean_env(LUMANOX_CONFIG=str(gw.config_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        assert proc.poll() is None and not out.exists(), "the second exporter did not wait"
    finally:
        os.close(lock)  # the first one is done
    _out, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert sorted((e["chain"], e["seq"]) for e in _lines(out)) == _stored(gw.config_path)


def test_a_stream_file_from_before_is_kept_whole(tmp_path: Path) -> None:
    """A file the gateway wrote before its stream became an export (no cursor yet) is
    adopted: its bytes stay, and only later events are appended."""
    gw = prepare_gateway(tmp_path / "gw", standard_cast)
    stream = gw.base / "audit.jsonl"
    cursor = Path(str(stream) + ".cursor")
    old = b'{"action": "login", "note": "written by the previous version"}\n'
    stream.write_bytes(old)
    cursor.unlink()
    with Core.open(load_config(gw.config_path)) as core:  # closing exports
        core.audit.write_now([AuditEvent(action="read", protocol="sftp", chain="-",
                                         reason="after-upgrade")])
    data = stream.read_bytes()
    assert data.startswith(old)
    later = [json.loads(line) for line in data[len(old):].decode().splitlines()]
    assert [e["reason"] for e in later] == ["after-upgrade"]
