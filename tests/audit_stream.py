"""The audit trail as tests read it: one chain's stored rows, and the audit stream of a
gateway under test, exported from its catalog up to now.

``serve`` exports new events to ``audit.log`` every ``audit.export_interval_ms``; a test
that has just made a request runs one export round itself (export rounds of one cursor
take turns under its lock file, so this is safe beside the running supervisor)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from gateway.auditv2.export import audit_cursor_file, audit_target, export_to_target
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.config import load_config
from gateway.core import Core


def synced_audit_file(config_path: Path) -> Path:
    """Export the events committed so far; the path of the (file) audit stream."""
    cfg = load_config(config_path)
    target = audit_target(cfg)
    catalog = Catalog(cfg.catalog_url, pool_size=1)
    try:
        export_to_target(catalog, target, audit_cursor_file(cfg, target))
    finally:
        catalog.dispose()
    return Path(target)


def chain_rows(core: Core, chain: str) -> list[dict]:
    """Every stored event of ``chain`` (all columns), in sequence order."""
    with core.catalog.read() as conn:
        return [dict(r) for r in conn.execute(select(audit_events).where(
            audit_events.c.chain == chain).order_by(audit_events.c.seq)).mappings()]
