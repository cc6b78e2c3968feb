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
    assert done["counts"]["files"] == 3
    assert done["counts"]["events_naming_files_or_account_cleared"] > 0
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


def test_erase_removes_the_account_and_what_mentions_it(gw: CliEnv, tmp_path: Path) -> None:
    """SSH key, app password, second factor, failure counters go with the account; a
    lock-break event's reason naming the lock holder loses it; the chain verifies."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from sqlalchemy import func, select

    from gateway import admin
    from gateway.catalog import locks as lock_store
    from gateway.catalog.tables import (
        app_passwords,
        audit_events,
        auth_failures,
        ssh_keys,
        totp_secrets,
        users,
    )
    from gateway.policy.defender import Defender

    key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    gw.run("key", "add", "alice@acme", key + " alice@laptop")
    gw.run("app-password", "create", "alice@acme", "--label", "alice-nas")
    gw.run("totp", "enroll", "alice@acme")
    gw.run("files", "mkdir", "bob@acme", "/shared")
    with Core.open(load_config(gw.config), audit_log="off") as core:
        Defender(core).failure("192.0.2.9", "acme", "alice")
        with core.catalog.write() as conn:
            lock_store.create(conn, admin.get_tenant(core, "acme").id, "tok-a", {
                "root": "/shared", "depth": "0", "scope": "exclusive", "owner": b"x",
                "principal": "alice@acme", "timeout": None})
    gw.run("locks", "break", "tok-a")

    def counts() -> dict[str, int]:
        with Core.open(load_config(gw.config), audit_log="off") as core, \
                core.catalog.read() as conn:
            n = {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                 for t in (users, ssh_keys, app_passwords, totp_secrets)}
            n["auth_failures"] = conn.execute(select(func.count()).where(
                auth_failures.c.key.like("acct:%"))).scalar()
            n["mentions"] = conn.execute(select(func.count()).where(
                audit_events.c.reason.like("%alice@acme%"))).scalar()
            return n

    before = counts()
    assert before == {"users": 2, "ssh_keys": 1, "app_passwords": 1, "totp_secrets": 1,
                      "auth_failures": 1, "mentions": 1}
    found = gw.json("subject", "find", "--tenant", "acme", "--user", "alice")
    assert [k["comment"] for k in found["account"]["ssh_keys"]] == ["alice@laptop"]
    assert [a["label"] for a in found["account"]["app_passwords"]] == ["alice-nas"]
    assert "mentions-account" in {e["why"] for e in found["events"]}
    dry = gw.json("subject", "erase", "--tenant", "acme", "--user", "alice", "--dry-run")
    assert counts() == before
    assert {k: dry["counts"][k] for k in ("accounts", "ssh_keys", "app_passwords",
                                          "second_factors", "login_failure_counters")} == \
        {"accounts": 1, "ssh_keys": 1, "app_passwords": 1, "second_factors": 1,
         "login_failure_counters": 1}
    gw.run("subject", "erase", "--tenant", "acme", "--user", "alice", "--yes")
    assert counts() == {"users": 1, "ssh_keys": 0, "app_passwords": 0, "totp_secrets": 0,
                        "auth_failures": 0, "mentions": 0}
    assert gw.run("audit", "verify", ok=False).returncode == 0
    events = json.loads(gw.run("audit", "query", "--tenant", "acme", "--format", "json").stdout)
    assert not [e for e in events if "alice" in json.dumps(e)
                and e["action"] != "subject-erase"], "alice is still named in an event"
