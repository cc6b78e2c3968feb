"""Migration 0006 on a catalog that really holds a v1 audit trail (plain SHA-256 chain).

The catalog is built at revision 0005 by the migrations themselves, v1 events are written
the way the v1 code wrote them, then the real command line opens it: the schema migrates,
the v1 part is verified and sealed, new events continue the same chain as v2, and a v1
event rewritten with recomputed plain hashes is reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import MetaData, create_engine, select

from gateway.auditv2.chain import GENESIS, v1_hash
from gateway.catalog import Catalog
from tests.cli_runner import CliEnv

CHAIN = "-"  # events of no tenant: the chain the CLI's own events continue


def _v1_rows(n: int) -> list[dict]:
    """``n`` events as the v1 writer stored them (fields, prev_hash, plain hash)."""
    rows, prev = [], GENESIS
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    for seq in range(1, n + 1):
        ts = start + timedelta(minutes=seq)
        row = {"chain": CHAIN, "seq": seq, "ts": ts, "tenant": None, "user": "old-admin",
               "protocol": "admin", "remote_addr": "198.51.100.7", "session_id": None,
               "action": "login", "path": f"/v1/{seq}", "dest_path": None, "bytes": None,
               "sha256": None, "duration_ms": 3, "result": "denied", "reason": "bad password"}
        row["prev_hash"] = prev
        row["hash"] = prev = v1_hash(prev, row, ts)
        rows.append(row)
    return rows


def _tables(url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["audit_events", "audit_heads"])
    return engine, meta.tables["audit_events"], meta.tables["audit_heads"]


def test_a_v1_trail_migrates_seals_continues_and_stays_tamper_evident(tmp_path: Path,
                                                                     db_url: str) -> None:
    catalog = Catalog(db_url)
    command.upgrade(catalog.alembic_config(), "0005")
    catalog.dispose()
    engine, events, heads = _tables(db_url)
    assert "format" not in events.c  # really the v1 schema
    rows = _v1_rows(3)
    with engine.begin() as conn:
        conn.execute(events.insert(), rows)
        conn.execute(heads.insert().values(chain=CHAIN, seq=3, hash=rows[-1]["hash"]))
    engine.dispose()

    gw = CliEnv(tmp_path, db_url)
    gw.run("init", "--demo")  # opens the catalog: migrates to head, seals the v1 part
    gw.run("tenant", "create", "later")  # more events after the upgrade
    assert gw.run("audit", "verify").returncode == 0

    engine, events, heads = _tables(db_url)
    with engine.connect() as conn:
        head = conn.execute(select(heads).where(heads.c.chain == CHAIN)).one()
        formats = conn.execute(select(events.c.format).where(events.c.chain == CHAIN)
                               .order_by(events.c.seq)).scalars().all()
    assert head.v1_seq == 3 and head.v1_seal, "the v1 part was not sealed"
    assert formats[:3] == [1, 1, 1] and formats[3:] and set(formats[3:]) == {2}, formats

    with engine.begin() as conn:  # rewrite event 2 and recompute every v1 hash after it
        stored = [dict(r) for r in conn.execute(select(events).where(
            events.c.chain == CHAIN, events.c.seq <= 3).order_by(events.c.seq)).mappings()]
        stored[1]["path"] = "/innocent"
        prev = GENESIS
        for r in stored:
            new = v1_hash(prev, r, r["ts"])
            conn.execute(events.update().where(events.c.id == r["id"]).values(
                path=r["path"], prev_hash=prev, hash=new))
            prev = new
        # and make the first v2 event link to the forged v1 head
        conn.execute(events.update().where(events.c.chain == CHAIN, events.c.seq == 4)
                     .values(prev_hash=prev))
    engine.dispose()
    p = gw.run("audit", "verify", ok=False)
    assert p.returncode == 1 and "modified" in p.stderr, p.stderr
