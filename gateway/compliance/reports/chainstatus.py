"""Whether the audit chains holding a period's events verify intact.

A tenant's events form one keyed hash chain (gateway/auditv2); an event can only be
vouched for by walking its chain from the start, so every chain that holds an event of
the period is verified whole (``gateway.auditv2.verify.verify_chain``, streaming) and
compared with the signed checkpoint, exactly as ``audit verify`` does: a modified,
inserted or deleted event, a truncated chain, or a missing or altered checkpoint all make
the period NOT verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gateway.auditv2 import checkpoint
from gateway.auditv2.verify import verify_chain
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, audit_heads, tenants
from gateway.compliance.reports.scope import Scope, period_conditions

ev = audit_events.c


@dataclass
class ChainStatus:
    """``verified`` is None when the check was skipped (``checked`` False)."""

    checked: bool
    verified: bool | None
    chains: int = 0
    events_checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        if not self.checked:
            return "NOT CHECKED"
        return "VERIFIED INTACT" if self.verified else "NOT VERIFIED"

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "verified": self.verified, "status": self.label,
                "chains": self.chains, "events_checked": self.events_checked,
                "problems": self.problems}


def not_checked() -> ChainStatus:
    return ChainStatus(checked=False, verified=None)


def verify_period(catalog: Catalog, key: bytes, checkpoint_file: Any, scope: Scope
                  ) -> ChainStatus:
    """Verify every chain with an event of ``scope``'s tenant and period."""
    problems: list[dict[str, Any]] = []
    try:
        heads = checkpoint.load(checkpoint_file, key)
    except checkpoint.CheckpointInvalid as exc:
        heads = None
        problems.append({"chain": "-", "seq": 0, "kind": "checkpoint", "detail": str(exc)})
    with catalog.read() as conn:
        names = sorted(conn.execute(select(ev.chain).where(*period_conditions(scope))
                                    .distinct()).scalars())
        if names and heads is None and not problems:
            problems.append({"chain": "-", "seq": 0, "kind": "checkpoint", "detail": (
                f"the audit checkpoint {checkpoint_file} is missing, so a truncated chain "
                "would go unnoticed (`lumanox-gateway audit verify` says more)")})
        checked = 0
        for chain in names:
            problem = verify_chain(conn, chain, key, (heads or {}).get(chain))
            if problem is not None:
                owner = conn.execute(select(tenants.c.name).where(tenants.c.id == chain)
                                     ).scalar()
                problems.append({"chain": f"{chain} (tenant {owner})" if owner else chain,
                                 "seq": problem.seq, "kind": problem.kind,
                                 "detail": problem.detail})
            checked += conn.execute(select(audit_heads.c.seq).where(
                audit_heads.c.chain == chain)).scalar() or 0
    return ChainStatus(checked=True, verified=not problems, chains=len(names),
                       events_checked=checked, problems=problems)
