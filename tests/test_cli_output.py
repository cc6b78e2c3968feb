"""What the CLI prints: JSON where asked, order by time, honest status and gc reports.

Every test runs the real ``lumanox-gateway`` command (a subprocess) on a real catalog.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_runner import CLI, CliEnv, clean_env
from localnet import free_port, wait_port

from gateway.audit import AuditEvent
from gateway.cli.main import build_parser
from gateway.config import load_config
from gateway.core import Core


@pytest.fixture
def gw(tmp_path: Path) -> CliEnv:
    env = CliEnv(tmp_path)
    env.run("init")
    env.run("tenant", "create", "acme")
    env.run("user", "create", "alice@acme", "--generate-password")
    return env


def open_core(gw: CliEnv) -> Core:
    return Core.open(load_config(gw.config), audit_log="off")


def tenant_id(core: Core, name: str = "acme") -> str:
    from gateway import admin

    return admin.get_tenant(core, name).id


# --- item 7: --json and formats -----------------------------------------------------------
def test_audit_verify_prints_json_when_asked(gw: CliEnv) -> None:
    data = gw.json("audit", "verify")
    assert data["intact"] is True and data["chains_checked"] >= 1 and data["problems"] == []
    with open_core(gw) as core, core.catalog.write() as conn:
        from gateway.catalog.tables import audit_events

        conn.execute(audit_events.update().where(audit_events.c.seq == 1,
                                                 audit_events.c.tenant == "acme")
                     .values(reason="rewritten"))
    p = gw.run("audit", "verify", "--json", ok=False)
    assert p.returncode == 1
    data = json.loads(p.stdout)
    assert data["intact"] is False
    assert data["problems"][0]["tenant"] == "acme" and data["problems"][0]["kind"] == "modified"


def test_audit_tail_prints_a_json_document_when_asked(gw: CliEnv) -> None:
    events = gw.json("audit", "tail", "-n", "5")
    assert isinstance(events, list) and events
    assert {"ts", "tenant", "user", "action", "result"} <= set(events[0])
    assert [e["action"] for e in events][-1] == "user-create"


def test_audit_query_json_is_one_document_and_jsonl_is_lines(gw: CliEnv) -> None:
    doc = json.loads(gw.run("audit", "query", "--tenant", "acme", "--format", "json").stdout)
    assert isinstance(doc, list) and [e["action"] for e in doc] == ["tenant-create",
                                                                     "user-create"]
    lines = gw.run("audit", "query", "--tenant", "acme", "--format", "jsonl").stdout
    assert [json.loads(line)["action"] for line in lines.splitlines()] == \
        ["tenant-create", "user-create"]
    empty = gw.run("audit", "query", "--tenant", "nobody", "--format", "json").stdout
    assert json.loads(empty) == []


def test_audit_query_into_a_closed_pipe_exits_quietly(gw: CliEnv) -> None:
    with open_core(gw) as core:
        tid = tenant_id(core)
        core.audit.write_now([AuditEvent(action="read", protocol="sftp", chain=tid,
                                         tenant="acme", user="alice", path=f"/f{i:05d}",
                                         bytes=i) for i in range(3000)])
    for fmt in ("csv", "table", "json", "jsonl"):
        proc = subprocess.Popen([*CLI, "audit", "query", "--format", fmt], cwd=gw.base,
                                env=clean_env(LUMANOX_CONFIG=str(gw.config)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()  # like `| head -n 1`
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, f"{fmt}: exit {proc.returncode}: {err}"
        assert err == "", f"{fmt}: {err}"


def test_user_list_without_a_tenant_lists_every_user(gw: CliEnv) -> None:
    gw.run("tenant", "create", "globex")
    gw.run("user", "create", "bob@globex", "--generate-password")
    users = gw.json("user", "list")
    assert sorted(f"{u['name']}@{u['tenant']}" for u in users) == ["alice@acme", "bob@globex"]
    text = gw.run("user", "list").stdout
    assert "alice@acme" in text and "bob@globex" in text
    assert [u["name"] for u in gw.json("user", "list", "globex")] == ["bob"]


def _subcommand_helps(parser, path=()):  # type: ignore[no-untyped-def]
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), helps.get(name)
                yield from _subcommand_helps(sub, (*path, name))


def test_every_subcommand_has_a_one_line_description(gw: CliEnv) -> None:
    missing = [" ".join(p) for p, h in _subcommand_helps(build_parser())
               if not h or "\n" in h]
    assert not missing, f"subcommands without a one-line help: {missing}"
    out = gw.run("tenant", "--help").stdout
    for name in ("create", "set", "list", "show", "purge"):
        line = next(li for li in out.splitlines() if li.strip().startswith(name + " "))
        assert len(line.split()) > 1, f"`tenant --help` describes no {name}: {out}"


# --- item 10: order by time --------------------------------------------------------------
def test_audit_tail_and_query_are_ordered_by_time(gw: CliEnv) -> None:
    base = datetime.now(UTC) + timedelta(hours=1)
    with open_core(gw) as core:
        tid = tenant_id(core)
        # the write is stored first (in the upload's transaction), the login that allowed
        # it later (queued): chain order differs from time order
        core.audit.write_now([AuditEvent(action="write", protocol="sftp", chain=tid,
                                         tenant="acme", user="alice", path="/r.pdf",
                                         ts=base + timedelta(seconds=1))])
        core.audit.write_now([AuditEvent(action="login", protocol="sftp", chain=tid,
                                         tenant="acme", user="alice", ts=base)])
        # same instant: ties go by chain sequence
        core.audit.write_now([AuditEvent(action="mkdir", protocol="sftp", chain=tid,
                                         tenant="acme", user="alice", path="/a",
                                         ts=base + timedelta(seconds=2)),
                              AuditEvent(action="rename", protocol="sftp", chain=tid,
                                         tenant="acme", user="alice", path="/a",
                                         ts=base + timedelta(seconds=2))])
    expected = ["login", "write", "mkdir", "rename"]
    table = gw.run("audit", "tail", "-n", "4").stdout.splitlines()[2:]
    assert [line.split()[4] for line in table] == expected
    assert [e["action"] for e in gw.json("audit", "tail", "-n", "4")] == expected
    assert [e["action"] for e in gw.json("audit", "tail", "-n", "2")] == expected[2:]
    q = json.loads(gw.run("audit", "query", "--user", "alice", "--format", "json").stdout)
    assert [e["action"] for e in q] == expected


# --- item 9: gc --dry-run tells what a real run would remove --------------------------------
def test_gc_dry_run_reports_the_temp_files_a_real_run_removes(gw: CliEnv) -> None:
    tmp = gw.base / "var" / "blobs" / ".tmp"
    old = time.time() - 7200
    for i in range(3):
        f = tmp / f"{'ab' * 16}.{i:08x}"
        f.write_bytes(os.urandom(1024 * 1024))
        os.utime(f, (old, old))
    (tmp / f"{'cd' * 16}.00000000").write_bytes(b"upload in flight")
    dry = gw.json("gc", "--dry-run")
    assert dry["temp_files_removed"] == 3 and dry["temp_bytes_removed"] == 3 * 1024 * 1024
    assert dry["temp_kept_young"] == 1
    text = gw.run("gc", "--dry-run").stdout
    assert "would remove 3 abandoned temp files (3.0 MiB)" in text
    assert "kept 1 temp file younger than" in text and "upload" in text
    assert len(list(tmp.iterdir())) == 4, "a dry run removed files"
    real = gw.json("gc")
    assert real["temp_files_removed"] == 3 and real["temp_kept_young"] == 1
    assert [f.name for f in tmp.iterdir()] == [f"{'cd' * 16}.00000000"]


# --- item 8: status tells configured from running ------------------------------------------
def test_status_tells_configured_from_running(tmp_path: Path) -> None:
    from gateway import sftp, webdav

    if not (webdav.AVAILABLE and sftp.AVAILABLE):
        pytest.fail("both front-ends must be available")
    wport, sport = free_port(), free_port()
    gw = CliEnv(tmp_path, extra=f"[webdav]\nport = {wport}\nworkers = 1\n",
                sftp_extra=f"port = {sport}\nworkers = 1\n")
    gw.run("init")
    stopped = gw.json("status")["front_ends"]
    for name in ("webdav", "sftp"):
        assert stopped[name]["configured"] is True and stopped[name]["running"] is False
    assert "running" in gw.run("status").stdout
    proc = subprocess.Popen([*CLI, "serve"], cwd=gw.base,
                            env=clean_env(LUMANOX_CONFIG=str(gw.config)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(wport, 60)
        wait_port(sport, 60)
        running = gw.json("status")["front_ends"]
        for name, port in (("webdav", wport), ("sftp", sport)):
            assert running[name]["running"] is True, running
            assert running[name]["address"] == f"127.0.0.1:{port}"
        assert running["serve_pid"] == proc.pid
        second = gw.run("serve", ok=False, timeout=60)
        assert second.returncode != 0 and f"pid {proc.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    after = gw.json("status")["front_ends"]
    assert after["webdav"]["running"] is False and after["sftp"]["running"] is False


def test_status_of_a_disabled_front_end(tmp_path: Path) -> None:
    gw = CliEnv(tmp_path, sftp_extra="enabled = false\n")
    gw.run("init")
    fe = gw.json("status")["front_ends"]
    assert fe["sftp"]["configured"] is False and fe["webdav"]["configured"] is True


def test_status_ignores_a_stale_pid_file(tmp_path: Path) -> None:
    """A pid file nobody holds (serve was killed) names live pids (1) but runs nothing."""
    gw = CliEnv(tmp_path)
    gw.run("init")
    (tmp_path / "var" / "serve.pid").write_text(json.dumps(
        {"pid": 1, "front_ends": {"webdav": {"pid": 1}, "sftp": {"pid": 1}}}))
    fe = gw.json("status")["front_ends"]
    assert fe["webdav"]["running"] is False and fe["sftp"]["running"] is False
    assert fe["serve_pid"] is None
