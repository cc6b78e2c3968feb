"""Walk one audit chain: the v1 part (plain hashes, sealed), then the v2 part (MACs)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from gateway.auditv2.chain import (
    FORMAT_V1,
    GENESIS,
    PERSONAL,
    V1_ERASED,
    commitment,
    loads,
    v1_erasure_mac,
    v1_hash,
    v1_seal,
    v2_mac,
)
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, audit_heads

log = logging.getLogger(__name__)


@dataclass
class ChainProblem:
    chain: str
    seq: int
    kind: str  # modified | inserted | deleted | unsealed
    detail: str


def row_hash(key: bytes, prev: str, row: Mapping[str, Any]) -> str | None:
    """The hash the event should have after ``prev``; None if a personal value no longer
    matches its commitment (or the stored commitments are not readable)."""
    if row["format"] == FORMAT_V1:
        erased = _v1_erased(row)
        if erased is None:
            return v1_hash(prev, dict(row), row["ts"])
        # erased: the stored hash stands if the erasure MAC vouches for it and what is left
        fields = {**row, "prev_hash": prev}
        return row["hash"] if hmac.compare_digest(erased, v1_erasure_mac(key, fields)) \
            else None
    try:
        commits, salts = loads(row["commitments"]), loads(row["salts"])
    except ValueError:
        return None
    for f in PERSONAL:
        value = row[f]
        if value is None:
            continue  # absent, or erased: the commitment stands for it
        if f not in commits or f not in salts or not hmac.compare_digest(
                commitment(salts[f], str(value)), commits[f]):
            return None
    return v2_mac(key, prev, dict(row), commits, row["ts"])


def _v1_erased(row: Mapping[str, Any]) -> str | None:
    try:
        return loads(row["commitments"]).get(V1_ERASED)
    except ValueError:
        return "unreadable"  # matches no MAC: reported as modified


def verify_chain(conn: Connection, chain: str, key: bytes,
                 checkpoint: tuple[int, str] | None = None) -> ChainProblem | None:
    """Walk one chain in order; return the first problem found, or None. ``checkpoint``
    (seq, hash) is the chain's head as last written to the checkpoint file."""
    head = conn.execute(select(audit_heads).where(audit_heads.c.chain == chain)).first()
    v1_end = head.v1_seq if head is not None and head.v1_seq is not None else 0
    expected_seq, prev = 1, GENESIS
    seen_any, at_checkpoint = False, None
    for row in conn.execute(
        select(audit_events).where(audit_events.c.chain == chain).order_by(audit_events.c.seq)
        .execution_options(yield_per=1000)  # streamed: a chain may hold millions of events
    ).mappings():
        seen_any = True
        seq = row["seq"]
        if seq > expected_seq:
            return ChainProblem(chain, expected_seq, "deleted",
                                f"events {expected_seq}..{seq - 1} are missing")
        if seq < expected_seq:
            return ChainProblem(chain, seq, "inserted", "sequence number repeats")
        if (row["format"] == FORMAT_V1) != (seq <= v1_end):
            return ChainProblem(chain, seq, "modified", "its format does not match the "
                                "chain's sealed v1 part")
        problem = _check_row(key, chain, prev, row)
        if problem:
            return problem
        prev = row["hash"]
        if seq == v1_end:
            problem = _check_seal(key, chain, head, prev)
            if problem:
                return problem
        if checkpoint is not None and seq == checkpoint[0]:
            at_checkpoint = row["hash"]
        expected_seq += 1
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        return ChainProblem(chain, expected_seq, "deleted",
                            f"chain ends at {expected_seq - 1} but its head says {head.seq}")
    if head is None and seen_any:
        return ChainProblem(chain, 1, "inserted", "events exist but the chain has no head")
    if v1_end and expected_seq - 1 < v1_end:
        return ChainProblem(chain, expected_seq, "deleted", "the sealed v1 part is incomplete")
    if checkpoint is not None:
        return _check_checkpoint(chain, checkpoint, expected_seq - 1, at_checkpoint)
    return None


def _check_row(key: bytes, chain: str, prev: str, row: Mapping[str, Any]
               ) -> ChainProblem | None:
    seq = row["seq"]
    recomputed = row_hash(key, row["prev_hash"], row)
    if recomputed is None:
        return ChainProblem(chain, seq, "modified", "a personal field does not match its "
                            "commitment")
    if row["prev_hash"] != prev:
        if row_hash(key, prev, row) == row["hash"]:
            return ChainProblem(chain, seq, "modified",
                                "the stored link to the previous event was altered")
        kind = "modified" if recomputed != row["hash"] else "inserted"
        return ChainProblem(chain, seq, kind, "does not follow the previous event in the chain")
    if not hmac.compare_digest(recomputed, row["hash"]):
        return ChainProblem(chain, seq, "modified", "event content does not match its hash")
    return None


def _check_seal(key: bytes, chain: str, head: Any, v1_head: str) -> ChainProblem | None:
    if head.v1_seal is None:
        return ChainProblem(chain, head.v1_seq, "unsealed", "v1 events not sealed yet: start "
                            "the gateway (or any command) with the master key once")
    if not hmac.compare_digest(head.v1_seal, v1_seal(key, chain, head.v1_seq, v1_head)):
        return ChainProblem(chain, head.v1_seq, "modified",
                            "the v1 part does not match its seal")
    return None


def _check_checkpoint(chain: str, checkpoint: tuple[int, str], last_seq: int,
                      hash_there: str | None) -> ChainProblem | None:
    cp_seq, cp_hash = checkpoint
    if last_seq < cp_seq:
        return ChainProblem(chain, last_seq + 1, "deleted", f"the chain ends at {last_seq} but "
                            f"the signed checkpoint recorded event {cp_seq}: truncated")
    if hash_there is None or not hmac.compare_digest(hash_there, cp_hash):
        return ChainProblem(chain, cp_seq, "modified",
                            "differs from the event the signed checkpoint recorded")
    return None


def seal_v1_chains(catalog: Catalog, key: bytes) -> int:
    """Verify and seal every chain part still in v1 format (once, after migration 0006);
    returns how many chains were sealed."""
    sealed = 0
    with catalog.read() as conn:
        todo = list(conn.execute(select(audit_heads.c.chain).where(
            audit_heads.c.v1_seq.is_not(None), audit_heads.c.v1_seal.is_(None))).scalars())
    for chain in todo:
        with catalog.write() as conn:
            head = conn.execute(select(audit_heads).where(audit_heads.c.chain == chain)
                                .with_for_update()).first()
            if head is None or head.v1_seal is not None:
                continue
            prev, expected = GENESIS, 1
            for row in conn.execute(select(audit_events).where(
                    audit_events.c.chain == chain, audit_events.c.seq <= head.v1_seq)
                    .order_by(audit_events.c.seq)).mappings():
                if row["seq"] != expected or row["format"] != FORMAT_V1 or \
                        row["prev_hash"] != prev or v1_hash(prev, dict(row), row["ts"]) != \
                        row["hash"]:
                    log.error("audit: the v1 chain %s is broken at event %d; not sealing it "
                              "(`audit verify` reports it)", chain, expected)
                    break
                prev, expected = row["hash"], expected + 1
            else:
                if expected - 1 == head.v1_seq:
                    conn.execute(audit_heads.update().where(audit_heads.c.chain == chain)
                                 .values(v1_seal=v1_seal(key, chain, head.v1_seq, prev)))
                    sealed += 1
    return sealed
