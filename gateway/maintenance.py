"""Housekeeping: the orphan-blob sweeper and the status report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from gateway.backends import TempSweep
from gateway.catalog.heartbeats import node_list
from gateway.catalog.tables import audit_events, blobs, nodes, tenants, users
from gateway.core import Core


@dataclass(frozen=True)
class SweepResult:
    """What ``gc`` removed, or with ``dry_run`` what a real run would remove."""

    examined: int
    deleted: int
    deleted_bytes: int
    kept_young: int
    temp_files_removed: int
    temp_bytes_removed: int = 0
    temp_kept_young: int = 0
    #: temp files younger than this are kept: a writer may still be filling them
    temp_min_age_s: int = 0
    grace_seconds: int = 0


#: a temp file is never removed younger than this, whatever the grace period
MIN_TEMP_AGE_S = 60


def sweep_orphans(core: Core, grace_seconds: int | None = None, *,
                  dry_run: bool = False) -> SweepResult:
    """Delete stored blobs that no catalog row references and that are older than the grace,
    and abandoned temp files (a writer that crashed) older than the grace.

    The grace period protects uploads in flight: their blob is written before its catalog
    row exists, and their temp file is being written. Blob ids are checked against the
    catalog in batches. ``dry_run`` counts exactly what a real run would remove.
    """
    grace = core.config.storage.gc_grace_seconds if grace_seconds is None else grace_seconds
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)
    examined = deleted = deleted_bytes = young = 0
    batch: list = []

    def flush() -> None:
        nonlocal deleted, deleted_bytes, young
        ids = [b.blob_id for b in batch]
        with core.catalog.read() as conn:
            known = set(conn.execute(select(blobs.c.id).where(blobs.c.id.in_(ids))).scalars())
        for info in batch:
            if info.blob_id in known:
                continue
            if info.modified > cutoff:
                young += 1
                continue
            if not dry_run:
                core.store.delete(info.blob_id)
            deleted += 1
            deleted_bytes += info.size
        batch.clear()

    for info in core.store.enumerate():
        examined += 1
        batch.append(info)
        if len(batch) >= 500:
            flush()
    flush()
    min_age = max(grace, MIN_TEMP_AGE_S)
    swept = core.store.sweep_temp(min_age, dry_run) or TempSweep(0, 0, 0)
    return SweepResult(examined, deleted, deleted_bytes, young, swept.removed,
                       swept.removed_bytes, swept.kept_young, min_age, grace)


def status(core: Core) -> dict:
    current, head = core.catalog.schema_status()
    with core.catalog.read() as conn:
        counts = {
            "tenants": conn.execute(select(func.count()).select_from(tenants)).scalar(),
            "users": conn.execute(select(func.count()).select_from(users)).scalar(),
            "files": conn.execute(select(func.count()).select_from(nodes)
                                  .where(nodes.c.kind == "file")).scalar(),
            "folders": conn.execute(select(func.count()).select_from(nodes)
                                    .where(nodes.c.kind == "dir")).scalar(),
            "blobs": conn.execute(select(func.count()).select_from(blobs)).scalar(),
            "stored_bytes": int(conn.execute(
                select(func.coalesce(func.sum(blobs.c.stored_size), 0))).scalar()),
            # small files kept in the catalog itself (storage.inline_max_bytes): they grow
            # the database, not the blob store
            "inline_blobs": conn.execute(select(func.count()).select_from(blobs)
                                         .where(blobs.c.inline_data.is_not(None))).scalar(),
            "inline_bytes": int(conn.execute(
                select(func.coalesce(func.sum(blobs.c.stored_size), 0))
                .where(blobs.c.inline_data.is_not(None))).scalar()),
            "audit_events": conn.execute(select(func.count()).select_from(audit_events)).scalar(),
        }
        # serve's heartbeats (gateway/heartbeat.py): which nodes live, which went silent
        heartbeats = node_list(conn, core.config.gateway.node_stale_after_s)
    from gateway.runstate import front_end_status

    return {
        "catalog": core.catalog.engine.url.render_as_string(hide_password=True),
        "schema": {"current": current, "head": head, "up_to_date": current == head},
        "blob_store": core.store.describe(),
        "master_key_id": core.keyring.master_key_id,
        # configured (enabled in the config) vs running (from the pid file serve keeps)
        "front_ends": front_end_status(core.config),
        **counts,
        "nodes": heartbeats,
    }
