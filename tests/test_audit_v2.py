"""Audit log v2: a keyed chain, salted commitments of personal fields, erasure, v1 seal."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from gateway import admin
from gateway.audit import AuditEvent, event_hash, verify_chain
from gateway.auditv2.chain import GENESIS, commitment
from gateway.auditv2.erase import erase_subject
from gateway.auditv2.export import export_follow, export_once
from gateway.auditv2.verify import seal_v1_chains
from gateway.catalog.tables import audit_events, audit_heads, catalog_meta
from gateway.core import Core
from gateway.errors import GatewayError, KeyUnavailable, NotFound
from tests.audit_stream import chain_rows

ADDR = "203.0.113.77"
SECRET_PATH = "/plans-zq7x"


def _activity(core: Core, user: str = "zeldaqx", addr: str = ADDR) -> str:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", user)
    s = core.session(admin.principal_for(core, "acme", user), "sftp", addr)
    s.mkdir("/d")
    s.write_file("/d/f", b"x")
    s.move("/d/f", "/d/g")
    with pytest.raises(NotFound):  # a miss: the path is still audited (and personal)
        s.read_file(SECRET_PATH)
    core.audit.flush()
    return s.tenant_id



def _rechain_plain(core: Core, chain: str) -> None:
    """What a database writer without the audit key can do: recompute plain hashes."""
    prev = GENESIS
    with core.catalog.write() as conn:
        for r in chain_rows(core, chain):
            h = event_hash(prev, r, r["ts"])
            conn.execute(update(audit_events).where(audit_events.c.id == r["id"])
                         .values(prev_hash=prev, hash=h, format=1))
            prev = h
        conn.execute(update(audit_heads).where(audit_heads.c.chain == chain)
                     .values(hash=prev))


def _verify(core: Core, chain: str):  # type: ignore[no-untyped-def]
    with core.catalog.read() as conn:
        return verify_chain(conn, chain, core.audit.key)


def test_events_carry_commitments_not_plain_hashes(core: Core) -> None:
    tid = _activity(core)
    ev = next(r for r in chain_rows(core, tid) if r["remote_addr"] == ADDR)
    commits, salts = json.loads(ev["commitments"]), json.loads(ev["salts"])
    assert commits["remote_addr"] == commitment(salts["remote_addr"], ADDR)
    assert len(set(salts.values())) == len(salts)  # one salt per field
    assert ev["format"] == 2
    assert ev["hash"] != event_hash(ev["prev_hash"], ev, ev["ts"])
    assert _verify(core, tid) is None


def test_rewritten_chain_with_plain_hashes_is_detected(core: Core) -> None:
    tid = _activity(core)
    with core.catalog.write() as conn:
        conn.execute(update(audit_events).where(audit_events.c.chain == tid,
                                                audit_events.c.action == "write")
                     .values(path="/harmless", bytes=0))
    _rechain_plain(core, tid)
    problem = _verify(core, tid)
    assert problem is not None and problem.kind == "modified"


def test_changed_personal_value_is_detected(core: Core) -> None:
    tid = _activity(core)
    with core.catalog.write() as conn:
        conn.execute(update(audit_events).where(audit_events.c.chain == tid,
                                                audit_events.c.remote_addr == ADDR)
                     .values(remote_addr="192.0.2.1"))
    problem = _verify(core, tid)
    assert problem is not None and "commitment" in problem.detail


def test_erase_subject_keeps_the_chain_verifiable(core: Core) -> None:
    tid = _activity(core)
    _activity_other = core.session(admin.principal_for(core, "acme", "zeldaqx"), "webdav",
                                   "198.51.100.9")
    list(_activity_other.list("/"))
    core.audit.flush()
    counts = erase_subject(core, "acme", "ZeldaQX")  # any spelling of the login
    assert counts["events"] >= 5 and counts["remote_addr"] >= 5
    assert counts["admin_events_naming_user"] == 1  # user-create names the account
    assert _verify(core, tid) is None
    rows = chain_rows(core, tid)
    text = json.dumps(rows, default=str)
    for value in ("zeldaqx", ADDR, "198.51.100.9", SECRET_PATH, "/d/g"):
        assert value not in text, value
    erase = [r for r in rows if r["action"] == "audit-erase"]
    assert len(erase) == 1 and erase[0]["user"] is None
    assert f"events={counts['events']}" in erase[0]["reason"]


def _as_written_by_v1(core: Core, chain: str) -> None:
    """Turn the chain's events into what the v1 code wrote (plain hashes, no commitments),
    with the head marking them as the v1 part still to be sealed (as after migration 0006)."""
    prev = GENESIS
    with core.catalog.write() as conn:
        for r in chain_rows(core, chain):
            h = event_hash(prev, r, r["ts"])
            conn.execute(update(audit_events).where(audit_events.c.id == r["id"]).values(
                prev_hash=prev, hash=h, format=1, commitments=None, salts=None))
            prev = h
        conn.execute(update(audit_heads).where(audit_heads.c.chain == chain).values(
            hash=prev, v1_seq=len(chain_rows(core, chain)), v1_seal=None))


def test_events_from_before_v2_are_erasable_once_sealed(core: Core) -> None:
    """v1 events (plain hashes) of a person are erased too: each keeps its stored hash,
    vouched for by the v1 seal and an erasure MAC; what is left stays tamper-evident."""
    tid = _activity(core)
    _as_written_by_v1(core, tid)
    assert seal_v1_chains(core.catalog, core.audit.key) == 1
    s = core.session(admin.principal_for(core, "acme", "zeldaqx"), "sftp", ADDR)
    s.write_file("/d/after", b"y")  # v2 events after the sealed v1 part
    core.audit.flush()
    counts = erase_subject(core, "acme", "zeldaqx")
    assert counts["events"] >= 5 and counts["admin_events_naming_user"] == 1
    assert _verify(core, tid) is None
    rows = chain_rows(core, tid)
    assert {r["format"] for r in rows} == {1, 2}
    text = json.dumps(rows, default=str)
    for value in ("zeldaqx", ADDR, SECRET_PATH, "/d/g", "/d/after"):
        assert value not in text, value
    erased_v1 = next(r for r in rows if r["format"] == 1 and r["action"] == "move")
    with core.catalog.write() as conn:  # what is left of an erased v1 event is still covered
        conn.execute(update(audit_events).where(audit_events.c.id == erased_v1["id"])
                     .values(result="denied"))
    problem = _verify(core, tid)
    assert problem is not None and problem.kind == "modified" and \
        problem.seq == erased_v1["seq"]


def test_erasing_v1_events_of_a_chain_that_does_not_verify_is_refused(core: Core) -> None:
    tid = _activity(core)
    _as_written_by_v1(core, tid)
    seal_v1_chains(core.catalog, core.audit.key)
    with core.catalog.write() as conn:  # tampered after the seal: erasure must not launder it
        conn.execute(update(audit_events).where(audit_events.c.chain == tid,
                                                audit_events.c.seq == 2).values(bytes=999))
    with pytest.raises(GatewayError, match="does not verify"):
        erase_subject(core, "acme", "zeldaqx")
    assert "zeldaqx" in json.dumps(chain_rows(core, tid), default=str)  # nothing erased


def test_erased_values_are_gone_from_the_sqlite_file(config_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A check of the SQLite file itself (PostgreSQL runs the test above)."""
    config = config_factory(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    with Core.open(config) as core:
        tid = _activity(core)
        s = core.session(admin.principal_for(core, "acme", "zeldaqx"), "sftp", ADDR)
        for i in range(300):  # enough rows that shrinking them leaves free space in pages
            with pytest.raises(NotFound):
                s.stat(f"{SECRET_PATH}/{i:04d}-" + "q" * 40)
        core.audit.flush()
        admin.delete_user(core, "acme", "zeldaqx")
        before = _sqlite_bytes(config)
        assert ADDR.encode() in before and f"{SECRET_PATH}/0299".encode() in before
        erase_subject(core, "acme", "zeldaqx")
        assert _verify(core, tid) is None
        after = _sqlite_bytes(config)
    for value in (ADDR, SECRET_PATH, "zeldaqx", "/d/g"):
        assert value.encode() not in after, value


def _sqlite_bytes(config) -> bytes:  # type: ignore[no-untyped-def]
    db = config.catalog_url.removeprefix("sqlite:///")
    return b"".join(Path(p).read_bytes() for p in (db, db + "-wal", db + "-journal")
                    if os.path.exists(p))


def test_v1_chain_is_sealed_then_continued_as_v2(core: Core) -> None:
    """A chain written before migration 0006 (plain hashes) is verified and sealed when
    the catalog is opened with the master key, then new events continue it as v2; a
    v1 event rewritten with recomputed plain hashes no longer matches the seal."""
    chain, prev = "v1chain", GENESIS
    with core.catalog.write() as conn:
        for seq in (1, 2, 3):
            ev = AuditEvent(action="read", protocol="sftp", chain=chain, user="old",
                            path=f"/v1/{seq}", seq=seq)
            fields = ev.fields()
            fields.update(prev_hash=prev, hash=event_hash(prev, fields, ev.ts), format=1)
            prev = fields["hash"]
            conn.execute(insert(audit_events).values(**fields))
        conn.execute(insert(audit_heads).values(chain=chain, seq=3, hash=prev, v1_seq=3))
    unsealed = _verify(core, chain)
    assert unsealed is not None and unsealed.kind == "unsealed"
    assert seal_v1_chains(core.catalog, core.audit.key) == 1
    core.audit.write_now([AuditEvent(action="read", protocol="sftp", chain=chain, user="new")])
    assert _verify(core, chain) is None
    assert [r["format"] for r in chain_rows(core, chain)] == [1, 1, 1, 2]
    with core.catalog.write() as conn:  # rewrite v1 event 2 and recompute the v1 hashes
        conn.execute(update(audit_events).where(audit_events.c.chain == chain,
                                                audit_events.c.seq == 2).values(path="/x"))
    prev = GENESIS
    with core.catalog.write() as conn:
        for r in chain_rows(core, chain)[:3]:
            h = event_hash(prev, r, r["ts"])
            conn.execute(update(audit_events).where(audit_events.c.id == r["id"])
                         .values(prev_hash=prev, hash=h))
            prev = h
    problem = _verify(core, chain)
    assert problem is not None and problem.kind == "modified"


def test_downgrading_v2_events_to_v1_is_detected(core: Core) -> None:
    tid = _activity(core)
    _rechain_plain(core, tid)  # every event claims format 1 with a valid plain hash
    problem = _verify(core, tid)
    assert problem is not None and problem.kind == "modified"


def test_audit_key_survives_master_rotation(core: Core) -> None:
    tid = _activity(core)
    key = core.audit.key
    core.keyring.rotate_master()
    assert core.keyring.audit_key() == key
    assert _verify(core, tid) is None


def _exported(path: Path) -> list[tuple[str, int]]:
    """The exported (chain, seq) pairs; complete lines only (the exporter may be writing)."""
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [(e["chain"], e["seq"]) for e in map(json.loads, lines)]


def _stored(core: Core) -> list[tuple[str, int]]:
    with core.catalog.read() as conn:
        return sorted(tuple(r) for r in conn.execute(
            select(audit_events.c.chain, audit_events.c.seq)))


@pytest.fixture
def quiet_core(config) -> Iterator[Core]:  # type: ignore[no-untyped-def]
    """A core without the JSON stream on stdout (pytest's capture swaps the descriptors
    under a long-lived stream, which could then write into a file a test opened)."""
    with Core.open(config, audit_log="off") as core:
        yield core


def test_export_is_exactly_once_and_resumes_after_a_crash(quiet_core: Core,
                                                          tmp_path: Path) -> None:
    core = quiet_core
    out, cursor = tmp_path / "audit.jsonl", tmp_path / "audit.cursor"
    _activity(core)
    first = export_once(core.catalog, out, cursor)
    assert first > 0 and sorted(_exported(out)) == _stored(core)
    assert export_once(core.catalog, out, cursor) == 0  # nothing new: nothing repeated
    core.audit.write_now([AuditEvent(action="read", protocol="sftp", chain="-")])
    with out.open("a") as f:  # a run cut after writing, before saving its cursor
        f.write('{"chain": "-", "seq": 1}\n{"half a li')
    assert export_once(core.catalog, out, cursor) == 1
    exported = _exported(out)
    assert sorted(exported) == _stored(core) and len(set(exported)) == len(exported)


def test_export_follow_picks_up_new_events(quiet_core: Core, tmp_path: Path) -> None:
    core = quiet_core
    out, cursor = tmp_path / "audit.jsonl", tmp_path / "audit.cursor"
    stop = threading.Event()
    follower = threading.Thread(target=export_follow, args=(
        core.catalog, out, cursor, 0.05, lambda: not stop.is_set()))
    follower.start()
    try:
        _activity(core)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sorted(_exported(out)) != _stored(core):
            time.sleep(0.05)
    finally:
        stop.set()
        follower.join(timeout=30)
    assert sorted(_exported(out)) == _stored(core)


def test_a_deleted_audit_key_is_not_silently_replaced(config) -> None:  # type: ignore[no-untyped-def]
    with Core.open(config) as core:
        _activity(core)
        with core.catalog.write() as conn:
            conn.execute(delete(catalog_meta).where(catalog_meta.c.key == "audit_key"))
    with pytest.raises(KeyUnavailable, match="audit key is missing"):
        Core.open(config)
