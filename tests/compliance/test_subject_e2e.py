"""Data-subject requests end to end: a real ``serve``, real clients, the real CLI.

alice uploads over WebDAV (curl) and SFTP (paramiko), bob does too. ``subject export``
must hold exactly alice's files (digests equal to what was uploaded) with a correct
manifest; ``subject erase --dry-run`` must change nothing and list what ``erase`` then
removes; after ``subject erase`` no table of the catalog names alice's files, her blobs
are gone from the blob store, ``audit verify`` passes and bob's files and events are as
they were. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_runner import CliEnv, clean_env
from localnet import free_port, wait_port
from sqlalchemy import MetaData, Table, create_engine, func, inspect, select

from gateway.catalog.tables import audit_events, blobs, nodes

MARKER = b"SUBJECT-CONTENT-MARKER-7f3a"
PASSWORDS = {"alice": "alice-Secret-pw-11", "bob": "bob-Secret-pw-22"}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def payload(seed: str, size: int) -> bytes:
    """Incompressible bytes with the content marker in them (past the inline limit if
    ``size`` is large)."""
    body = hashlib.shake_256(seed.encode()).digest(size)
    return MARKER + body[len(MARKER):]


@dataclass
class World:
    gw: CliEnv
    db_url: str
    webdav_port: int
    sftp_port: int
    uploaded: dict[str, dict[str, bytes]]  # user -> path -> content
    proc: subprocess.Popen[str] | None = None

    def curl_put(self, user: str, path: str, data: bytes) -> None:
        src = self.gw.base / "upload.tmp"
        src.write_bytes(data)
        p = subprocess.run([_tool("curl"), "-sS", "-k", "--fail", "-u",
                            f"{user}@acme:{PASSWORDS[user]}", "-T", str(src),
                            f"https://127.0.0.1:{self.webdav_port}{path}"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        self.uploaded.setdefault(user, {})[path] = data

    def mkcol(self, user: str, path: str) -> None:
        p = subprocess.run([_tool("curl"), "-sS", "-k", "--fail", "-X", "MKCOL", "-u",
                            f"{user}@acme:{PASSWORDS[user]}",
                            f"https://127.0.0.1:{self.webdav_port}{path}"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr

    def curl_get(self, user: str, path: str) -> bytes:
        p = subprocess.run([_tool("curl"), "-sS", "-k", "--fail", "-u",
                            f"{user}@acme:{PASSWORDS[user]}",
                            f"https://127.0.0.1:{self.webdav_port}{path}"],
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    def sftp_put(self, user: str, path: str, data: bytes) -> None:
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
        client.connect("127.0.0.1", self.sftp_port, username=f"{user}@acme",
                       password=PASSWORDS[user], allow_agent=False, look_for_keys=False,
                       timeout=20)
        try:
            sftp = client.open_sftp()
            with sftp.open(path, "wb") as f:
                f.write(data)
            sftp.close()
        finally:
            client.close()
        self.uploaded.setdefault(user, {})[path] = data

    def start(self) -> None:
        """Run ``serve`` (both front-ends) until ``stop``."""
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], cwd=self.gw.base,
                                env=clean_env(LUMANOX_CONFIG=str(self.gw.config)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.proc = proc

        def alive() -> None:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")

        wait_port(self.webdav_port, 60, alive)
        wait_port(self.sftp_port, 60, alive)

    def stop(self) -> None:
        """Stop ``serve`` cleanly: every queued audit event is stored when it returns."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def engine(self):  # type: ignore[no-untyped-def]
        url = self.db_url if self.db_url else \
            f"sqlite:///{self.gw.base / 'var' / 'catalog.db'}"
        return create_engine(url)

    @property
    def blob_dir(self) -> Path:
        return self.gw.base / "var" / "blobs"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if IN_CI:
            pytest.fail(f"CI requires {name}")
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[World]:
    wport, sport = free_port(), free_port()
    url = "" if db_url.startswith("sqlite") else db_url
    gw = CliEnv(tmp_path, url or None,
                extra=f"[webdav]\nport = {wport}\nworkers = 1\n",
                sftp_extra=f"port = {sport}\nworkers = 1\n")
    gw.run("init")
    gw.run("tenant", "create", "acme")
    for user, pw in PASSWORDS.items():
        gw.run("user", "create", f"{user}@acme", "--password-stdin", stdin=pw + "\n")
    w = World(gw, url, wport, sport, {})
    w.start()
    try:
        yield w
    finally:
        w.stop()


def _upload_everything(w: World) -> None:
    w.curl_put("alice", "/alice-report-q3.pdf", payload("a1", 300_000))
    w.curl_put("alice", "/alice-note.txt", b"a small note of alice " + MARKER)
    w.sftp_put("alice", "/alice-sftp-upload.bin", payload("a2", 200_000))
    w.mkcol("alice", "/alice-private")  # hers alone: goes with her files
    w.sftp_put("alice", "/alice-private/alice-in-folder.bin", payload("a3", 100_000))
    w.mkcol("alice", "/alice-shared")  # bob stores a file in it: it stays
    w.curl_put("bob", "/bob-plan.pdf", payload("b1", 250_000))
    w.sftp_put("bob", "/bob-sftp-data.bin", payload("b2", 150_000))
    w.curl_put("bob", "/alice-shared/bob-in-shared.txt", b"bob's file in alice's folder")


def _tables(conn) -> list[Table]:  # type: ignore[no-untyped-def]
    """Every table of the catalog as the database has it (not as tables.py says)."""
    meta = MetaData()
    return [Table(name, meta, autoload_with=conn) for name in inspect(conn).get_table_names()]


def _table_counts(w: World) -> dict[str, int]:
    engine = w.engine()
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                    for t in _tables(conn)}
    finally:
        engine.dispose()


def _all_text_values(w: World) -> list[str]:
    """Every text value of every column of every table of the catalog."""
    engine = w.engine()
    out = []
    try:
        with engine.connect() as conn:
            for t in _tables(conn):
                for row in conn.execute(select(t)):
                    out += [v for v in row if isinstance(v, str)]
    finally:
        engine.dispose()
    return out


def _blob_files(w: World) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in w.blob_dir.rglob("*") if p.is_file()}


def _events_of(w: World, user: str) -> list[tuple]:
    engine = w.engine()
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(
                audit_events.c.id, audit_events.c.hash, audit_events.c.user,
                audit_events.c.path, audit_events.c.remote_addr, audit_events.c.salts)
                .where(audit_events.c.user == user).order_by(audit_events.c.id))]
    finally:
        engine.dispose()


def _blob_ids_of(w: World, paths: list[str]) -> set[str]:
    names = [p.rsplit("/", 1)[1] for p in paths]
    engine = w.engine()
    try:
        with engine.connect() as conn:
            return {b for b in conn.execute(select(nodes.c.blob_id).where(
                nodes.c.name.in_(names))).scalars() if b}
    finally:
        engine.dispose()


def test_export_and_erase_one_user_over_real_front_ends(world: World, tmp_path: Path) -> None:
    w = world
    _upload_everything(w)
    alice_paths = sorted(w.uploaded["alice"])

    # --- find: alice's account, exactly her files -----------------------------------------
    found = w.gw.json("subject", "find", "--tenant", "acme", "--user", "alice")
    assert found["account"]["name"] == "alice" and "password_hash" not in found["account"]
    assert sorted(f["path"] for f in found["files"]) == alice_paths
    assert found["folders"] == ["/alice-private"]
    assert {e["user"] for e in found["events"] if e["why"] == "by-subject"} == {"alice"}
    protocols = {e["protocol"] for e in found["events"] if e["action"] == "write"}
    assert {"webdav", "sftp"} <= protocols

    # --- export: exactly alice's files, digests as uploaded, manifest correct ------------
    out = tmp_path / "alice.zip"
    w.gw.run("subject", "export", "--tenant", "acme", "--user", "alice", "--out", str(out))
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert sorted(n for n in names if n.startswith("files/")) == \
            sorted("files" + p for p in alice_paths)
        for p in alice_paths:
            assert hashlib.sha256(z.read("files" + p)).hexdigest() == \
                hashlib.sha256(w.uploaded["alice"][p]).hexdigest()
        manifest = json.loads(z.read("manifest.json"))
        listed = {m["name"]: m for m in manifest["members"]}
        assert set(listed) == set(names) - {"manifest.json"}
        for name, m in listed.items():
            data = z.read(name)
            assert m["sha256"] == hashlib.sha256(data).hexdigest() and m["size"] == len(data)
            assert m["what"]
        assert manifest["counts"]["files"] == len(alice_paths)
        assert manifest["subject"] == {"tenant": "acme", "user": "alice"}
        account = json.loads(z.read("account.json"))
        assert account["name"] == "alice" and account["has_password"] is True
        events = json.loads(z.read("events.json"))
        rows = list(csv.DictReader(io.StringIO(z.read("events.csv").decode())))
        assert len(events) == len(rows) == manifest["counts"]["events"] > 0
        assert all(e["user"] in ("alice", "admin") for e in events)
        assert not any("bob" in (e["path"] or "") for e in events)

    # --- dry run: changes nothing, lists what erase removes ------------------------------
    w.stop()  # the sessions' last events (logouts) are stored: the catalog holds still
    counts_before, blobs_before = _table_counts(w), _blob_files(w)
    bob_events_before = _events_of(w, "bob")
    alice_all_blobs = _blob_ids_of(w, alice_paths)  # the small note is inline
    alice_blobs = alice_all_blobs & set(blobs_before)
    assert len(alice_blobs) == 3 == len(alice_all_blobs) - 1
    dry = w.gw.json("subject", "erase", "--tenant", "acme", "--user", "alice", "--dry-run")
    assert dry["dry_run"] is True
    assert _table_counts(w) == counts_before and _blob_files(w) == blobs_before
    assert sorted(f["path"] for f in dry["files"]) == alice_paths
    assert dry["counts"]["files"] == len(alice_paths) and dry["counts"]["accounts"] == 1

    # --- without --yes: refused with one line, nothing changed ----------------------------
    refused = w.gw.run("subject", "erase", "--tenant", "acme", "--user", "alice", ok=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert _table_counts(w) == counts_before

    # --- erase ----------------------------------------------------------------------------
    done = w.gw.json("subject", "erase", "--tenant", "acme", "--user", "alice", "--yes")
    assert done["files"] == dry["files"] and done["folders"] == dry["folders"]
    for key, value in dry["counts"].items():
        assert done["counts"][key] == value, key

    texts = _all_text_values(w)
    for p in [*alice_paths, "/alice-private"]:
        name = p.rsplit("/", 1)[1]
        assert not [t for t in texts if name in t], f"{name} still in the catalog"
    assert [t for t in texts if t == "alice-shared"], "bob's folder went too"
    assert not [t for t in texts if t == "alice"], "the account name is still stored"
    if not w.db_url:  # SQLite: not in freed pages or the write-ahead log either
        raw = b"".join(p.read_bytes() for p in (w.gw.base / "var").glob("catalog.db*"))
        for p in alice_paths:
            assert p.rsplit("/", 1)[1].encode() not in raw, f"{p} in the SQLite files"
    blobs_after = _blob_files(w)
    assert not alice_blobs & set(blobs_after), "alice's blobs are still in the blob store"
    assert not [n for n, data in blobs_after.items() if MARKER in data]
    assert set(blobs_after) == set(blobs_before) - alice_blobs  # bob's blobs stay
    engine = w.engine()
    try:
        with engine.connect() as conn:  # the rows (inline content too) are gone as well
            rows = set(conn.execute(select(blobs.c.id)).scalars())
        assert not alice_all_blobs & rows and rows
    finally:
        engine.dispose()

    verify = w.gw.run("audit", "verify", ok=False)
    assert verify.returncode == 0, verify.stderr
    assert _events_of(w, "bob") == bob_events_before
    w.start()
    for path, data in w.uploaded["bob"].items():
        assert w.curl_get("bob", path) == data

    engine = w.engine()
    try:
        with engine.connect() as conn:
            erasure = conn.execute(select(audit_events).where(
                audit_events.c.action == "subject-erase")).mappings().all()
    finally:
        engine.dispose()
    assert len(erasure) == 1
    reason = erasure[0]["reason"]
    assert f"files={len(alice_paths)}" in reason and "accounts=1" in reason
    assert "alice" not in reason and erasure[0]["path"] is None
