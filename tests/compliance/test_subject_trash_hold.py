"""Data-subject requests meet the trash and legal holds: a file the person deleted into the
trash is still their data (found, listed in the export's manifest, erased with its blob);
a legal hold on any of their files, or on the whole tenant for their account, refuses the
erasure (a dry run too), audited, until released. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cli_runner import CliEnv
from sqlalchemy import func, select

from gateway.catalog.tables import audit_events, blobs, nodes
from gateway.config import load_config
from gateway.core import Core

MARKER = b"trashed-content-of-alice " * 4000  # stored as a blob (not inline)


@pytest.fixture
def gw(tmp_path: Path, db_url: str) -> CliEnv:
    env = CliEnv(tmp_path, None if db_url.startswith("sqlite") else db_url)
    env.run("init")
    env.run("tenant", "create", "acme")
    for user in ("alice", "bob"):
        env.run("user", "create", f"{user}@acme", "--generate-password")
    env.run("files", "mkdir", "alice@acme", "/a")
    for login, path, data in (("alice@acme", "/a/old-notes.txt", MARKER),
                              ("alice@acme", "/a/kept.txt", b"alice keeps this"),
                              ("bob@acme", "/bob.txt", b"bob's file")):
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        env.run("files", "put", login, str(src), path)
    return env


def _counts(gw: CliEnv) -> tuple[int, int]:
    with Core.open(load_config(gw.config), audit_log="off") as core, \
            core.catalog.read() as conn:
        return (conn.execute(select(func.count()).select_from(nodes)).scalar(),
                conn.execute(select(func.count()).select_from(blobs)).scalar())


def test_a_trashed_file_is_found_listed_and_erased(gw: CliEnv, tmp_path: Path) -> None:
    gw.run("trash", "enable", "--tenant", "acme", "--days", "30")
    gw.run("files", "rm", "alice@acme", "/a/old-notes.txt")
    assert [i["path"] for i in gw.json("trash", "list", "--tenant", "acme")] == \
        ["/a/old-notes.txt"]

    found = gw.json("subject", "find", "--tenant", "acme", "--user", "alice")
    by_path = {f["path"]: f["in_trash"] for f in found["files"]}
    assert by_path == {"/a/old-notes.txt": True, "/a/kept.txt": False}

    out = tmp_path / "alice.zip"
    gw.run("subject", "export", "--tenant", "acme", "--user", "alice", "--out", str(out))
    with zipfile.ZipFile(out) as z:
        assert sorted(n for n in z.namelist() if n.startswith("files/")) == ["files/a/kept.txt"]
        manifest = json.loads(z.read("manifest.json"))
    listed = [m for m in manifest["members"] if m.get("path") == "/a/old-notes.txt"]
    assert listed and listed[0]["name"] is None and "trash" in listed[0]["what"]

    nodes_before, blobs_before = _counts(gw)
    gw.run("subject", "erase", "--tenant", "acme", "--user", "alice", "--yes")
    assert gw.json("trash", "list", "--tenant", "acme") == []
    nodes_after, blobs_after = _counts(gw)
    assert nodes_after == nodes_before - 3  # /a, its kept file and the trashed file
    assert blobs_after < blobs_before
    store = gw.base / "var" / "blobs"
    assert not any(MARKER[:24] in p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert gw.run("files", "get", "bob@acme", "/bob.txt", str(tmp_path / "b.txt"))
    assert (tmp_path / "b.txt").read_bytes() == b"bob's file"
    gw.run("audit", "verify")


def test_a_legal_hold_refuses_the_erasure_until_released(gw: CliEnv) -> None:
    hold = gw.json("hold", "set", "--tenant", "acme", "--path", "/A", "--reason", "case 7")
    before = _counts(gw)
    for extra in (("--dry-run",), ("--yes",)):
        p = gw.run("subject", "erase", "--tenant", "acme", "--user", "alice", *extra, ok=False)
        assert p.returncode != 0 and "legal hold" in p.stderr.lower(), p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    assert _counts(gw) == before
    with Core.open(load_config(gw.config), audit_log="off") as core, \
            core.catalog.read() as conn:
        denied = conn.execute(select(audit_events.c.reason).where(
            audit_events.c.action == "subject-erase",
            audit_events.c.result == "denied")).scalars().all()
    assert len(denied) == 2 and all(r.startswith("legal-hold: ") for r in denied)

    gw.run("hold", "release", "--tenant", "acme", hold["id"])
    gw.run("hold", "set", "--tenant", "acme", "--reason", "whole tenant")  # the account too
    p = gw.run("subject", "erase", "--tenant", "acme", "--user", "alice", "--yes", ok=False)
    assert p.returncode != 0 and "legal hold" in p.stderr.lower()
    for h in gw.json("hold", "list"):
        gw.run("hold", "release", "--tenant", "acme", h["id"])
    gw.run("subject", "erase", "--tenant", "acme", "--user", "alice", "--yes")
    assert gw.json("subject", "find", "--tenant", "acme", "--name-pattern", "kept*")[
        "files"] == []
    gw.run("audit", "verify")


def test_erasure_forgets_the_person_in_notifications_and_alerts(gw: CliEnv) -> None:
    from gateway.catalog.tables import notify_outbox
    from gateway.notify import outbox

    with Core.open(load_config(gw.config), audit_log="off") as core:
        with core.catalog.read() as conn:
            tid = conn.execute(select(nodes.c.tenant_id).limit(1)).scalar()
        for account, path in (("alice@acme", "/a/kept.txt"), ("bob@acme", "/bob.txt"),
                              ("carol@acme", "/a/old-notes.txt")):
            outbox.enqueue(core.catalog, tenant_id=tid, kind="file.uploaded",
                           target="webhook:x", payload={"account": account, "path": path})
    report = gw.json("subject", "erase", "--tenant", "acme", "--user", "alice", "--yes")
    assert report["counts"]["notifications_about_subject"] == 2
    assert report["counts"]["alerts_about_subject"] == 0
    with Core.open(load_config(gw.config), audit_log="off") as core, \
            core.catalog.read() as conn:
        left = [json.loads(p) for p in conn.execute(select(notify_outbox.c.payload)).scalars()]
    assert left == [{"account": "bob@acme", "path": "/bob.txt"}]
