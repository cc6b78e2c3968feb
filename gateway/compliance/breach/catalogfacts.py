"""What the catalog says now about the files an incident touched: do they still exist,
their size, and how their content is encrypted at rest (blob key version, tenant key
state); and which files a listed folder showed (created before the listing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from gateway.admin import Tenant
from gateway.catalog import Catalog, namespace
from gateway.catalog.tables import blobs, tenant_keys
from gateway.compliance.breach.collect import Involvement, utc
from gateway.errors import GatewayError
from gateway.names import join_path, split_path

CIPHER = "AES-256-GCM"
MAX_LISTED = 10000  # files taken from one listed folder


def _node(conn, tenant: Tenant, path: str) -> namespace.Node | None:  # type: ignore[no-untyped-def]
    try:
        return namespace.resolve(conn, tenant.id, split_path(path), tenant.case_insensitive)
    except (GatewayError, ValueError):
        return None


def add_listed_files(catalog: Catalog, tenant: Tenant, inv: Involvement) -> None:
    """Files of each listed folder that existed when it was listed: their names and
    metadata were shown (``metadata_seen``), their content not (unless read too)."""
    for folder, listed_at in sorted(inv.listed.items()):
        with catalog.read() as conn:
            node = _node(conn, tenant, folder)
            if node is None or not node.is_dir:
                continue
            after, taken = None, 0
            while taken < MAX_LISTED:
                page = namespace.children(conn, tenant.id, node.id, after=after, limit=500)
                for child in page:
                    if not child.is_dir and utc(child.ctime) <= listed_at:
                        inv.file(join_path([*split_path(folder), child.name])
                                 ).metadata_seen = True
                taken += len(page)
                if len(page) < 500:
                    break
                after = namespace.page_key(page[-1], tenant.case_insensitive)


def file_facts(catalog: Catalog, tenant: Tenant, paths: list[str]) -> dict[str, dict[str, Any]]:
    """path -> {exists, kind, size, at_rest} as the catalog has it now."""
    out: dict[str, dict[str, Any]] = {}
    with catalog.read() as conn:
        states = {v: s for v, s in conn.execute(select(
            tenant_keys.c.version, tenant_keys.c.state).where(
            tenant_keys.c.tenant_id == tenant.id))}
        for path in paths:
            node = _node(conn, tenant, path)
            if node is None:
                out[path] = {"exists_now": False, "kind": None, "size": None,
                             "at_rest": f"{CIPHER} (the file is no longer at this path)"}
                continue
            facts: dict[str, Any] = {"exists_now": True, "kind": node.kind, "size": node.size,
                                     "at_rest": None}
            if node.blob_id:
                version = conn.execute(select(blobs.c.key_version).where(
                    blobs.c.id == node.blob_id)).scalar()
                state = states.get(version, "unknown")
                facts["at_rest"] = (f"{CIPHER}, per-file key wrapped by tenant key "
                                    f"version {version} ({state})")
            elif not node.is_dir:
                facts["at_rest"] = "empty file (no content stored)"
            out[path] = facts
    return out


def iso(ts: datetime | None) -> str | None:
    return utc(ts).isoformat(timespec="seconds") if ts else None
