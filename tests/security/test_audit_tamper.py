"""Tampering with the audit chain a running gateway wrote, caught by ``audit verify``.

The attacker can write the catalog (SQLite file) but holds neither the master key nor the
audit checkpoint's key: recomputing plain SHA-256 hashes (as the v1 chain used) must not
make a rewritten or truncated chain verify.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from .conftest import SecGateway

GENESIS = "0" * 64
_HASHED = ("chain", "seq", "tenant", "user", "protocol", "remote_addr", "session_id", "action",
           "path", "dest_path", "bytes", "sha256", "duration_ms", "result", "reason")


def _plain_hash(prev: str, row: dict) -> str:
    """What an attacker recomputes: the v1 event hash (SHA-256 over the clear fields)."""
    body = {k: row[k] for k in _HASHED}
    body["ts"] = str(row["ts"]).replace(" ", "T")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()


def _db(gw: SecGateway) -> sqlite3.Connection:
    db = sqlite3.connect(gw.data_dir / "catalog.db")
    db.row_factory = sqlite3.Row
    return db


def _rechain(db: sqlite3.Connection, chain: str) -> None:
    """Recompute every hash of a chain and its head with plain SHA-256."""
    prev = GENESIS
    rows = [dict(r) for r in db.execute(
        "SELECT * FROM audit_events WHERE chain = ? ORDER BY seq", (chain,))]
    for r in rows:
        h = _plain_hash(prev, r)
        db.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?",
                   (prev, h, r["id"]))
        prev = h
    db.execute("UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ?",
               (rows[-1]["seq"] if rows else 0, prev, chain))
    db.commit()


def _verify(gw: SecGateway) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LUMANOX_CONFIG": str(gw.config_path),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "gateway", "audit", "verify", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)


def _activity(gw: SecGateway) -> str:
    """Some uploads by alice over SFTP; the gateway stops (checkpoint written); the chain."""
    src = gw.base / "up.txt"
    src.write_bytes(b"quarterly numbers\n")
    gw.sftp_batch("alice@acme", "\n".join(f"put {src} /f{i}.txt" for i in range(3)))
    gw.stop()
    db = _db(gw)
    chain = db.execute(
        "SELECT chain FROM audit_events WHERE tenant = 'acme' LIMIT 1").fetchone()[0]
    db.close()
    intact = _verify(gw)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    return chain


def test_rewritten_event_with_recomputed_hashes_is_reported(make_gateway) -> None:
    gw = make_gateway()
    chain = _activity(gw)
    db = _db(gw)
    changed = db.execute("UPDATE audit_events SET path = '/innocent.txt', user = 'bob', "
                         "bytes = 1 WHERE chain = ? AND action = 'write'", (chain,)).rowcount
    assert changed == 3
    db.commit()
    _rechain(db, chain)
    db.close()
    p = _verify(gw)
    assert p.returncode == 1, p.stdout + p.stderr
    report = json.loads(p.stdout)
    assert report["intact"] is False
    assert report["problems"][0]["kind"] == "modified"


def test_truncated_chain_is_reported(make_gateway) -> None:
    gw = make_gateway()
    chain = _activity(gw)
    db = _db(gw)
    top = db.execute("SELECT max(seq) FROM audit_events WHERE chain = ?", (chain,)).fetchone()[0]
    db.execute("DELETE FROM audit_events WHERE chain = ? AND seq > ?", (chain, top - 3))
    db.commit()
    last = db.execute("SELECT seq, hash FROM audit_events WHERE chain = ? ORDER BY seq DESC "
                      "LIMIT 1", (chain,)).fetchone()
    db.execute("UPDATE audit_heads SET seq = ?, hash = ? WHERE chain = ?",
               (last["seq"], last["hash"], chain))
    db.commit()
    db.close()
    p = _verify(gw)
    assert p.returncode == 1, p.stdout + p.stderr
    assert json.loads(p.stdout)["intact"] is False
    assert "checkpoint" in json.loads(p.stdout)["problems"][0]["detail"]


def test_truncation_with_a_forged_or_deleted_checkpoint_is_reported(make_gateway) -> None:
    gw = make_gateway()
    chain = _activity(gw)
    cp = gw.data_dir / "audit-checkpoint.json"
    data = json.loads(cp.read_text())
    db = _db(gw)
    db.execute("DELETE FROM audit_events WHERE chain = ? AND seq > 2", (chain,))
    last = db.execute("SELECT hash FROM audit_events WHERE chain = ? AND seq = 2",
                      (chain,)).fetchone()[0]
    db.execute("UPDATE audit_heads SET seq = 2, hash = ? WHERE chain = ?", (last, chain))
    db.commit()
    db.close()
    data["heads"][chain] = [2, last]  # the attacker rewrites the checkpoint to match
    cp.write_text(json.dumps(data))
    p = _verify(gw)
    assert p.returncode == 1 and "MAC" in p.stdout, p.stdout + p.stderr
    cp.unlink()  # ... or deletes it
    p = _verify(gw)
    assert p.returncode == 1 and "missing" in p.stdout, p.stdout + p.stderr
