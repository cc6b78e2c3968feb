"""Verify every audit chain (or one tenant's) against the signed checkpoint: the check
that ``audit verify`` and the admin API's ``GET /v1/audit/verify`` both run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway import actor
from gateway.audit import AuditEvent, ChainProblem, chains, verify_chain
from gateway.auditv2 import checkpoint
from gateway.catalog.tables import tenants
from gateway.errors import NotFound

if TYPE_CHECKING:
    from gateway.core import Core


def verify_all(core: Core, tenant: str | None = None) -> dict[str, Any]:
    """``{"intact", "chains_checked", "checkpoint", "problems": [{tenant, seq, kind,
    detail}]}``. A missing or altered checkpoint is a problem too (a truncated chain would
    go unnoticed without it)."""
    key = core.audit.key
    cp_path = core.config.audit_checkpoint_file
    problems: list[ChainProblem] = []
    try:
        heads = checkpoint.load(cp_path, key)
    except checkpoint.CheckpointInvalid as e:
        heads = None
        problems.append(ChainProblem("-", 0, "checkpoint", str(e)))
    with core.catalog.read() as conn:
        names = chains(conn)
        tenant_ids = {r.name: r.id for r in conn.execute(select(tenants.c.name, tenants.c.id))}
        if tenant:
            if tenant not in tenant_ids:
                raise NotFound(f"no tenant {tenant!r}: see `lumanox-gateway tenant list`")
            names = [tenant_ids[tenant]]
        elif heads:  # a chain the checkpoint knows but the catalog lost entirely
            names = sorted(set(names) | set(heads))
        if heads is None and names and not problems:
            problems.append(ChainProblem("-", 0, "checkpoint", (
                f"the audit checkpoint {cp_path} is missing, so a truncated chain would go "
                "unnoticed: restore it from a backup; if it is lost for good, `audit "
                "checkpoint --yes` writes a new one from the current heads")))
        by_id = {v: k for k, v in tenant_ids.items()}
        problems += [p for p in (verify_chain(conn, c, key, (heads or {}).get(c))
                                 for c in names) if p]
    found = [{"tenant": by_id.get(p.chain, p.chain), "seq": p.seq, "kind": p.kind,
              "detail": p.detail} for p in problems]
    if found:  # a failed verification is itself audited (alert rule audit_chain)
        _audit_failure(core, found)
    return {"intact": not problems, "chains_checked": len(names),
            "checkpoint": None if heads is None else str(cp_path), "problems": found}


def _audit_failure(core: Core, found: list[dict[str, Any]]) -> None:
    who = actor.current()
    core.audit.write_now([AuditEvent(
        action="audit-verify", protocol=who.protocol, result="error", user=who.user,
        remote_addr=who.remote_addr,
        reason="; ".join(f"{f['tenant']} {f['kind']} at {f['seq']}" for f in found)[:500])])
