"""The evaluator's periodic audit chain verification (the same checks as `audit verify`).

A missing checkpoint file is not reported here (``serve`` writes it at most every
``audit.checkpoint_interval_s``; `audit verify` reports it); an altered one is.
"""

from __future__ import annotations

from gateway.audit import ChainProblem, chains, verify_chain
from gateway.auditv2 import checkpoint
from gateway.core import Core


def verify_all(core: Core) -> list[ChainProblem]:
    """Every chain's first problem (a consistent snapshot: REPEATABLE READ on PostgreSQL)."""
    key = core.audit.key
    problems: list[ChainProblem] = []
    try:
        heads = checkpoint.load(core.config.audit_checkpoint_file, key) or {}
    except checkpoint.CheckpointInvalid as exc:
        heads = {}
        problems.append(ChainProblem("-", 0, "checkpoint", str(exc)))
    engine = core.catalog.engine
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" \
        else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        for chain in sorted(set(chains(conn)) | set(heads)):
            problem = verify_chain(conn, chain, key, heads.get(chain))
            if problem:
                problems.append(problem)
    return problems
