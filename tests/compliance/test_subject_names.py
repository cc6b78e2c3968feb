"""Data-subject requests by name (``--name-pattern``, ``--text-in-names``) through the CLI.

A person without an account (a customer, an applicant) is found by the names of files and
folders: a folder named after them goes with everything inside, whoever stored it; every
event naming those files loses its paths; other files and events stay; the chain
verifies. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cli_runner import CliEnv

from gateway.config import load_config
from gateway.core import Core


@pytest.fixture
def gw(tmp_path: Path, db_url: str) -> CliEnv:
    env = CliEnv(tmp_path, None if db_url.startswith("sqlite") else db_url)
    env.run("init")
    env.run("tenant", "create", "acme")
    for user in ("alice", "bob"):
        env.run("user", "create", f"{user}@acme", "--generate-password")
    return env


def _put(gw: CliEnv, login: str, path: str, data: bytes) -> None:
    src = gw.base / "src.bin"
    src.write_bytes(data)
    gw.run("files", "put", login, str(src), path)


def _paths_in_events(gw: CliEnv) -> list[str]:
    events = json.loads(gw.run("audit", "query", "--tenant", "acme", "--format", "json").stdout)
    return [p for e in events for p in (e["path"], e["dest_path"]) if p]


def test_name_pattern_finds_exports_and_erases_across_users(gw: CliEnv, tmp_path: Path) -> None:
    gw.run("files", "mkdir", "alice@acme", "/customers/Jane Roe")
    _put(gw, "alice@acme", "/customers/Jane Roe/contract.pdf", b"contract" * 20_000)
    _put(gw, "bob@acme", "/customers/Jane Roe/invoice.txt", b"invoice 1")
    gw.run("files", "mkdir", "bob@acme", "/hr")
    _put(gw, "bob@acme", "/hr/CV_jane_roe.txt", b"cv of jane")
    _put(gw, "bob@acme", "/hr/other.txt", b"someone else")
    gw.run("files", "mv", "bob@acme", "/hr/other.txt", "/hr/other2.txt")
    gw.run("files", "get", "alice@acme", "/hr/CV_jane_roe.txt", str(tmp_path / "cv.txt"))
    expected = ["/customers/Jane Roe/contract.pdf", "/customers/Jane Roe/invoice.txt",
                "/hr/CV_jane_roe.txt"]

    crit = ["--tenant", "acme", "--name-pattern", "*jane*roe*"]
    found = gw.json("subject", "find", *crit)
    assert found["account"] is None
    assert [f["path"] for f in found["files"]] == expected
    assert found["folders"] == ["/customers/Jane Roe"]
    about = {e["path"] for e in found["events"]}
    assert "/hr/CV_jane_roe.txt" in about and "/hr/other.txt" not in about
    assert {e["why"] for e in found["events"]} == {"about-file"}
    # the same by a text in names (any case)
    by_text = gw.json("subject", "find", "--tenant", "acme", "--text-in-names", "JANE")
    assert [f["path"] for f in by_text["files"]] == expected

    out = tmp_path / "jane.zip"
    gw.run("subject", "export", *crit, "--out", str(out))
    with zipfile.ZipFile(out) as z:
        assert sorted(n for n in z.namelist() if n.startswith("files/")) == \
            ["files" + p for p in expected]
        assert z.read("files/hr/CV_jane_roe.txt") == b"cv of jane"
        assert json.loads(z.read("account.json")) is None
    again = gw.run("subject", "export", *crit, "--out", str(out), ok=False)
    assert again.returncode != 0 and "already exists" in again.stderr

    dry = gw.json("subject", "erase", *crit, "--dry-run")
    assert [f["path"] for f in dry["files"]] == expected
    assert dry["counts"]["files"] == 3 and dry["counts"]["folders"] == 1
    assert gw.json("subject", "find", *crit)["files"] == found["files"]  # nothing changed

    done = gw.json("subject", "erase", *crit, "--yes")
    assert done["counts"]["files"] == 3 and done["counts"]["events_about_files_cleared"] > 0
    assert gw.json("subject", "find", *crit)["files"] == []
    paths = _paths_in_events(gw)
    assert not [p for p in paths if "jane" in p.lower()], paths
    assert "/hr/other.txt" in paths and "/hr/other2.txt" in paths  # other events stay
    listing = gw.json("files", "ls", "bob@acme", "/hr")
    assert [e["name"] for e in listing] == ["other2.txt"]
    assert gw.json("files", "ls", "alice@acme", "/customers") == []
    assert gw.run("audit", "verify", ok=False).returncode == 0
    with Core.open(load_config(gw.config), audit_log="off") as core:  # quotas released
        from gateway import admin

        assert admin.get_tenant(core, "acme").used_files == 1
        assert admin.get_user(core, "acme", "alice").used_bytes == 0


def test_requests_refused_with_one_line(gw: CliEnv) -> None:
    for args, words in (
            (["subject", "find", "--tenant", "acme"], "--user"),
            (["subject", "find", "--tenant", "nope", "--user", "alice"], "no tenant"),
            (["subject", "find", "--tenant", "acme", "--user", "nobody"], "no user"),
            (["subject", "erase", "--tenant", "acme", "--user", "alice"], "--yes")):
        p = gw.run(*args, ok=False)
        assert p.returncode != 0 and words in p.stderr, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
