"""The Session: every file operation of every front-end, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from store_checks import assert_store_matches_catalog

from gateway import admin
from gateway.catalog.tables import audit_events, blobs
from gateway.core import Core
from gateway.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    HiddenPath,
    IncompleteUpload,
    InvalidMove,
    InvalidName,
    IsADirectory,
    NotADirectory,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)
from gateway.filewriter import REORDER_LIMIT
from gateway.session import Session


def events(core: Core, **where: str) -> list[dict]:
    core.audit.flush()
    q = select(audit_events).order_by(audit_events.c.id)
    for key, value in where.items():
        q = q.where(audit_events.c[key] == value)
    with core.catalog.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def test_write_read_stat_and_list(session: Session) -> None:
    session.mkdir("/docs")
    data = os.urandom(200_000)
    entry = session.write_file("/docs/report.pdf", data)
    assert entry.size == len(data) and entry.kind == "file"
    assert session.read_file("/docs/report.pdf") == data
    assert [e.name for e in session.list("/docs")] == ["report.pdf"]
    assert session.stat("/docs").is_dir


def test_range_reads(session: Session) -> None:
    data = os.urandom(3 * 65536 + 123)
    session.write_file("/f", data)
    rng = random.Random(7)
    for _ in range(40):
        off = rng.randrange(0, len(data) + 10)
        length = rng.randrange(0, 200_000)
        with session.open_read("/f", off, length) as r:
            assert r.read() == data[off : off + length]
        with session.open_read("/f") as r:
            assert r.pread(off, length) == data[off : off + length]


def test_listing_is_paged_and_complete(session: Session) -> None:
    session.mkdir("/many")
    names = {f"file-{i:05d}.txt" for i in range(2500)}
    for n in sorted(names):
        session.mkdir(f"/many/{n}")  # folders: cheap to create, same paging code
    listed = [e.name for e in session.list("/many", page_size=700)]
    assert listed == sorted(names)


def test_failed_uploads_keep_the_previous_version(core: Core, session: Session) -> None:
    session.write_file("/doc.txt", b"version one")
    w = session.open_write("/doc.txt", expected_length=1000)
    w.write(b"x" * 100)
    with pytest.raises(IncompleteUpload):
        w.close()
    w = session.open_write("/doc.txt")
    w.write(b"partial garbage")
    w.abort("client disconnected")
    with pytest.raises(RuntimeError), session.open_write("/doc.txt") as w:
        w.write(b"more garbage")
        raise RuntimeError("front-end crashed")
    assert session.read_file("/doc.txt") == b"version one"
    failed = [e for e in events(core, action="write") if e["result"] != "ok"]
    assert len(failed) == 3 and all(e["path"] == "/doc.txt" for e in failed)
    assert "incomplete" in failed[0]["reason"]
    # nothing half-written is left in the blob store: one blob for the one version
    with core.catalog.read() as conn:
        assert conn.execute(select(func.count()).select_from(blobs)).scalar() == 1
    assert_store_matches_catalog(core)


def test_append_resume_and_random_offsets(session: Session) -> None:
    base = os.urandom(150_000)
    session.write_file("/big.bin", base)
    # resume: reopen without truncation and continue at the current end
    extra = os.urandom(70_000)
    with session.open_write("/big.bin", truncate=False) as w:
        w.write(extra, offset=len(base))
    assert session.read_file("/big.bin") == base + extra
    # an in-place update in the middle keeps both ends
    with session.open_write("/big.bin", truncate=False) as w:
        w.write(b"PATCH", offset=1000)
    expected = bytearray(base + extra)
    expected[1000:1005] = b"PATCH"
    assert session.read_file("/big.bin") == bytes(expected)
    # a write past the end leaves a hole of zeros
    with session.open_write("/sparse", truncate=True) as w:
        w.write(b"end", offset=100_000)
    assert session.read_file("/sparse") == bytes(100_000) + b"end"


def test_out_of_order_writes_are_reassembled(session: Session) -> None:
    data = os.urandom(40 * 32768 + 5)
    chunks = [(o, data[o : o + 32768]) for o in range(0, len(data), 32768)]
    rng = random.Random(3)
    for window in (2, 8):  # the reorder buffer (stream mode)
        order = []
        for i in range(0, len(chunks), window):
            part = chunks[i : i + window]
            rng.shuffle(part)
            order += part
        with session.open_write(f"/ooo-{window}") as w:
            for off, chunk in order:
                w.write(chunk, offset=off)
        assert session.read_file(f"/ooo-{window}") == data
    # fully random order, including rewrites of earlier bytes (spool mode)
    order = chunks[:]
    rng.shuffle(order)
    with session.open_write("/random") as w:
        w.write(b"\xff" * 1000, offset=0)
        for off, chunk in order:
            w.write(chunk, offset=off)
    assert session.read_file("/random") == data


def test_reorder_buffer_overflow_switches_to_spool(session: Session) -> None:
    head = os.urandom(1000)
    tail = os.urandom(REORDER_LIMIT + 10)
    with session.open_write("/overflow") as w:
        w.write(tail, offset=len(head))
        w.write(head, offset=0)
    assert session.read_file("/overflow") == head + tail


def test_truncate(session: Session) -> None:
    session.write_file("/t", b"0123456789")
    session.truncate("/t", 4)
    assert session.read_file("/t") == b"0123"
    session.truncate("/t", 6)
    assert session.read_file("/t") == b"0123\x00\x00"


def test_mkdir_delete_move_copy(core: Core, session: Session) -> None:
    session.mkdir("/a/b/c", parents=True)
    session.write_file("/a/b/c/f.txt", b"hello")
    with pytest.raises(AlreadyExists):
        session.mkdir("/a")
    with pytest.raises(NotFound):
        session.mkdir("/x/y")
    with pytest.raises(NotADirectory):
        session.mkdir("/a/b/c/f.txt/d")
    with pytest.raises(DirectoryNotEmpty):
        session.delete("/a")
    session.move("/a", "/moved")
    assert session.read_file("/moved/b/c/f.txt") == b"hello"
    with pytest.raises(NotFound):
        session.stat("/a")
    with pytest.raises(InvalidMove):
        session.move("/moved", "/moved/b/inside")
    session.copy("/moved", "/copy")
    session.write_file("/copy/b/c/f.txt", b"changed")
    assert session.read_file("/moved/b/c/f.txt") == b"hello"
    session.write_file("/other.txt", b"x")
    with pytest.raises(AlreadyExists):
        session.move("/other.txt", "/copy")
    session.move("/other.txt", "/copy", overwrite=True)
    assert session.read_file("/copy") == b"x"
    assert session.delete("/moved", recursive=True) == 4
    assert [e.name for e in session.list("/")] == ["copy"]
    with pytest.raises(IsADirectory):
        session.open_write("/")


def test_copy_shares_content_and_delete_releases_it(core: Core, session: Session) -> None:
    session.write_file("/one", b"shared content")
    session.copy("/one", "/two")
    with core.catalog.read() as conn:
        assert conn.execute(select(func.count()).select_from(blobs)).scalar() == 1
    session.delete("/one")
    assert session.read_file("/two") == b"shared content"
    session.delete("/two")
    with core.catalog.read() as conn:
        assert conn.execute(select(func.count()).select_from(blobs)).scalar() == 0
    assert list(core.store.enumerate()) == []


def test_set_mtime(session: Session) -> None:
    session.write_file("/m", b"x")
    when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    session.set_mtime("/m", when)
    assert session.stat("/m").mtime == when


def test_case_insensitive_and_sensitive_tenants(core: Core, session: Session) -> None:
    session.write_file("/Report.TXT", b"1")
    assert session.read_file("/report.txt") == b"1"
    session.write_file("/REPORT.txt", b"2")  # same file
    assert [e.name for e in session.list("/")] == ["Report.TXT"]
    session.move("/report.txt", "/Report.txt")  # case-only rename
    assert [e.name for e in session.list("/")] == ["Report.txt"]

    admin.create_tenant(core, "posix", case_insensitive=False)
    admin.create_user(core, "posix", "bob")
    bob = core.session(admin.principal_for(core, "posix", "bob"), "test", "::1")
    bob.write_file("/A", b"upper")
    bob.write_file("/a", b"lower")
    assert sorted(e.name for e in bob.list("/")) == ["A", "a"]


def test_tenants_cannot_see_each_other(core: Core, session: Session) -> None:
    session.write_file("/secret.txt", b"acme only")
    admin.create_tenant(core, "globex")
    admin.create_user(core, "globex", "alice")  # the same user name in another tenant
    other = core.session(admin.principal_for(core, "globex", "alice"), "test", "::1")
    assert list(other.list("/")) == []
    with pytest.raises(NotFound):
        other.read_file("/secret.txt")
    with pytest.raises(InvalidName):
        other.read_file("/../acme/secret.txt")


def test_cross_tenant_parent_is_impossible_in_the_database(core: Core, session: Session) -> None:
    """The composite foreign key refuses a node whose parent belongs to another tenant."""
    from sqlalchemy.exc import IntegrityError

    from gateway.catalog import namespace as ns
    from gateway.catalog.tables import nodes

    other = admin.create_tenant(core, "initech")
    with core.catalog.read() as conn:
        acme_root = ns.root(conn, session.tenant_id)
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError), core.catalog.write() as conn:
        conn.execute(nodes.insert().values(
            tenant_id=other.id, parent_id=acme_root.id, name="x", name_key="x", kind="dir",
            size=0, etag="e", mtime=now, ctime=now))


def test_permissions_by_prefix(core: Core, tenant: admin.Tenant) -> None:
    rules = ('[{"prefix": "/", "perms": ["list", "read"]},'
             ' {"prefix": "/inbox", "perms": ["list", "read", "write"]}]')
    admin.create_user(core, "acme", "partner", kind="machine", permissions=rules)
    s = core.session(admin.principal_for(core, "acme", "partner"), "sftp", "192.0.2.1")
    admin.create_user(core, "acme", "owner")
    core.session(admin.principal_for(core, "acme", "owner"), "test", "::1").mkdir("/inbox")
    s.write_file("/inbox/upload.csv", b"a,b")
    with pytest.raises(PermissionDenied):
        s.write_file("/outside.csv", b"a,b")
    with pytest.raises(PermissionDenied):
        s.delete("/inbox/upload.csv")
    with pytest.raises(PermissionDenied):
        s.move("/inbox/upload.csv", "/inbox/renamed.csv")
    denied = events(core, user="partner", result="denied")
    assert [e["action"] for e in denied] == ["write", "delete", "move"]
    assert all(e["reason"].startswith("permission") for e in denied)


def test_quotas_tenant_and_user(core: Core) -> None:
    admin.create_tenant(core, "small", quota_bytes=100_000, quota_files=3)
    admin.create_user(core, "small", "u1", quota_bytes=60_000)
    admin.create_user(core, "small", "u2")
    s1 = core.session(admin.principal_for(core, "small", "u1"), "test", "::1")
    s2 = core.session(admin.principal_for(core, "small", "u2"), "test", "::1")
    s1.write_file("/a", b"x" * 50_000)
    usage = s1.usage()  # the tighter limit is the user's: 10k left of 60k
    assert (usage.used_bytes, usage.quota_bytes, usage.available_bytes) == (50_000, 60_000, 10_000)
    with pytest.raises(QuotaExceeded):  # user quota: 50k + 20k > 60k (announced length)
        s1.write_file("/b", b"x" * 20_000)
    with pytest.raises(QuotaExceeded), s1.open_write("/c") as w:  # unannounced: at commit
        w.write(b"x" * 20_000)
    s2.write_file("/d", b"x" * 40_000)
    with pytest.raises(QuotaExceeded):  # tenant quota: 90k + 20k > 100k
        s2.write_file("/e", b"x" * 20_000)
    s2.write_file("/f", b"")
    with pytest.raises(QuotaExceeded):  # tenant file count: 3
        s2.write_file("/g", b"")
    assert s1.read_file("/a") == b"x" * 50_000
    assert s2.usage().available_bytes == 10_000
    s1.write_file("/a", b"y" * 55_000)  # replacing counts only the difference
    s2.delete("/d")
    t = admin.get_tenant(core, "small")
    assert (t.used_bytes, t.used_files) == (55_000, 2)


def test_every_operation_is_audited_exactly_once(core: Core, session: Session) -> None:
    before = len(events(core))
    session.mkdir("/d")
    session.write_file("/d/f", b"12345")
    session.read_file("/d/f")
    list(session.list("/d"))
    session.stat("/d/f")
    session.copy("/d/f", "/d/g")
    session.move("/d/g", "/d/h")
    session.set_mtime("/d/h", datetime.now(UTC))
    session.delete("/d", recursive=True)
    with pytest.raises(NotFound):
        session.read_file("/nope")
    # events that change the namespace are stored with the change, the others in batches:
    # the order of operations is the order of their timestamps
    got = sorted(events(core)[before:], key=lambda e: e["ts"])
    assert [e["action"] for e in got] == ["mkdir", "write", "read", "list", "stat",
                                          "copy", "move", "setattr", "delete", "read"]
    write = got[1]
    assert write["bytes"] == 5 and write["sha256"] and write["result"] == "ok"
    assert got[2]["bytes"] == 5
    assert got[-1]["result"] == "miss" and got[-1]["reason"].startswith("not-found")
    assert all(e["tenant"] == "acme" and e["user"] == "alice" and e["protocol"] == "test"
               and e["remote_addr"] == "127.0.0.1" for e in got)


def test_only_ciphertext_reaches_the_disk(config, core: Core, session: Session) -> None:
    marker = b"LUMANOX-PLAINTEXT-MARKER-7f3a"
    session.write_file("/m.txt", marker * 5000)
    with session.open_write("/spooled.txt") as w:  # the spool path too
        w.write(marker * 10, offset=50)
        w.write(marker * 10, offset=0)
    for root, _dirs, files in os.walk(config.data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert marker not in f.read(), f"plaintext found in {name}"


def test_changing_case_sensitivity_rekeys_or_refuses(core: Core) -> None:
    admin.create_tenant(core, "switch", case_insensitive=False)
    admin.create_user(core, "switch", "u")
    s = core.session(admin.principal_for(core, "switch", "u"), "test", "::1")
    s.mkdir("/Docs")
    s.write_file("/Docs/Plan.txt", b"p")
    s.write_file("/readme", b"r")
    s.write_file("/README", b"R")
    with pytest.raises(admin.ConflictingNames, match="differ only in case"):
        admin.set_tenant(core, "switch", case_insensitive=True)
    assert admin.get_tenant(core, "switch").case_insensitive is False  # rolled back
    s.delete("/README")
    admin.set_tenant(core, "switch", case_insensitive=True)
    s = core.session(admin.principal_for(core, "switch", "u"), "test", "::1")
    assert s.read_file("/docs/PLAN.TXT") == b"p"
    assert s.read_file("/ReadMe") == b"r"


def test_concurrent_writers_of_one_file_leave_one_consistent_version(
        core: Core, session: Session) -> None:
    """Many threads replace the same file at once: no error, no leaked blob, last one wins."""
    import threading

    bodies = [os.urandom(1000 + i) for i in range(8)]
    errors: list[BaseException] = []

    def writer(body: bytes) -> None:
        try:
            me = core.session(session.principal, "test", "127.0.0.1")
            for _ in range(5):
                me.write_file("/contended.bin", body)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert session.read_file("/contended.bin") in bodies
    with core.catalog.read() as conn:  # exactly the one live blob is left
        assert conn.execute(select(func.count()).select_from(blobs)).scalar() == 1
    assert_store_matches_catalog(core)
    t = admin.get_tenant(core, "acme")
    assert t.used_files == 1 and t.used_bytes == session.stat("/contended.bin").size


def test_paths_come_back_in_stored_case(session: Session) -> None:
    session.mkdir("/Projects")
    session.write_file("/Projects/Plan.TXT", b"x")
    assert session.stat("/projects/plan.txt").path == "/Projects/Plan.TXT"
    assert [e.path for e in session.list("/PROJECTS")] == ["/Projects/Plan.TXT"]
    with session.open_read("/PROJECTS/PLAN.txt") as r:
        assert r.entry.path == "/Projects/Plan.TXT"


def test_permission_rules_cannot_be_bypassed_by_case(core: Core, tenant: admin.Tenant) -> None:
    """On a case-insensitive tenant, /secret and /Secret are one folder and one rule."""
    admin.create_user(core, "acme", "boss")
    boss = core.session(admin.principal_for(core, "acme", "boss"), "test", "::1")
    boss.mkdir("/Secret")
    boss.write_file("/Secret/plan.txt", b"confidential")
    rules = ('[{"prefix": "/", "perms": ["list", "read", "write", "delete", "rename"]},'
             ' {"prefix": "/Secret", "perms": []}]')
    admin.create_user(core, "acme", "intern", permissions=rules)
    intern = core.session(admin.principal_for(core, "acme", "intern"), "test", "::1")
    for spelling in ("/Secret/plan.txt", "/secret/plan.txt", "/SECRET/Plan.txt"):
        # a folder the intern may not see at all answers as missing (#9.18)
        with pytest.raises(HiddenPath):
            intern.read_file(spelling)
        with pytest.raises(HiddenPath):
            intern.delete(spelling)


def test_a_failing_disk_mid_upload_keeps_the_previous_version(
        core: Core, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store write error (disk full) in a large upload, on the pipelined path too."""
    from gateway.backends.local import LocalBlobSink

    session.write_file("/big.bin", b"previous version")
    real_write = LocalBlobSink.write
    written = 0

    def failing_write(self, data) -> None:  # type: ignore[no-untyped-def]
        nonlocal written
        written += len(data)
        if written > 6 * 1024 * 1024:
            raise OSError(28, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(LocalBlobSink, "write", failing_write)
    chunk = os.urandom(1024 * 1024)
    with pytest.raises(OSError), session.open_write("/big.bin") as w:
        for _ in range(16):
            w.write(chunk)
    monkeypatch.undo()
    assert session.read_file("/big.bin") == b"previous version"
    assert_store_matches_catalog(core)
