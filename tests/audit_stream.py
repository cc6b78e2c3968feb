"""The audit stream of a gateway under test, exported from its catalog up to now.

``serve`` exports new events to ``audit.log`` every ``audit.export_interval_ms``; a test
that has just made a request runs one export round itself (export rounds of one cursor
take turns under its lock file, so this is safe beside the running supervisor)."""

from __future__ import annotations

from pathlib import Path

from gateway.auditv2.export import audit_cursor_file, audit_target, export_to_target
from gateway.catalog import Catalog
from gateway.config import load_config


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
