"""The retention run: delete exactly what is due, in bounded batches, audited.

Per tenant: queued blob deletions of an earlier, interrupted run are finished first; a
read pass lists the candidate files; then each batch is one write transaction that owns
the tenant's namespace, re-reads its files and deletes only those still due by the
catalog's state then (a file changed, moved into the trash or put under a hold since the
pass stays), releases quota and blob rows, queues the blobs' store deletion and appends
one ``retention-delete`` event (files, bytes); the store deletions follow the commit.
A run killed at any point resumes on the next one: nothing undue is deleted, nothing due
is left, no blob is orphaned. Then trash items older than the trash's days are purged
and audit events older than the tenant's ``audit_days`` lose their personal fields.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from gateway.admin import Tenant, list_tenants
from gateway.catalog import namespace as ns
from gateway.catalog.retention_policy import holds_of
from gateway.compliance.retention import auditexpiry, reaper, scan, trash
from gateway.compliance.retention.common import event, tenant_of
from gateway.compliance.retention.rules import rules_of
from gateway.core import Core

#: test hook: seconds to pause after each committed batch, before its store deletions
PAUSE_ENV = "LUMANOX_TEST_RETENTION_PAUSE_S"


@dataclass
class TenantReport:
    tenant: str
    files_due: int = 0
    files_deleted: int = 0
    bytes_deleted: int = 0
    held: int = 0
    batches: int = 0
    trash_purged: int = 0
    trash_bytes: int = 0
    trash_held: int = 0
    audit_erased: int = 0
    audit_v1_kept: int = 0


@dataclass
class RunReport:
    dry_run: bool
    now: datetime
    blobs_resumed: int = 0
    tenants: list[TenantReport] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def run_retention(core: Core, *, tenant: str | None = None, now: datetime | None = None,
                  dry_run: bool = False, batch_files: int | None = None,
                  progress: Callable[[str], None] | None = None) -> RunReport:
    """Apply every rule (of one tenant, or all) as of ``now`` (default: the clock)."""
    now = now or datetime.now(UTC)
    batch = max(1, batch_files or core.config.retention.batch_files)
    report = RunReport(dry_run, now)
    if not dry_run:
        report.blobs_resumed = reaper.drain(core)
    targets = [tenant_of(core, tenant)] if tenant else list_tenants(core)
    for t in targets:
        tr = TenantReport(t.name)
        report.tenants.append(tr)
        _files(core, t, now, dry_run, batch, tr, progress or (lambda _m: None))
        _trash(core, t, now, dry_run, tr)
        with core.catalog.read() as conn:
            rules = rules_of(conn, t.id)
        root_rule = rules.get("/")
        if root_rule is not None and root_rule.audit_days is not None:
            tr.audit_erased, tr.audit_v1_kept = auditexpiry.expire(
                core, t, root_rule.audit_days, now, dry_run=dry_run)
        if not dry_run:
            core.audit.write_now([event(t, "retention-run", nbytes=tr.bytes_deleted, reason=(
                f"as of {now.isoformat(timespec='seconds')}: files={tr.files_deleted} "
                f"held={tr.held} trash_purged={tr.trash_purged} "
                f"audit_erased={tr.audit_erased}"))])
    return report


def _files(core: Core, t: Tenant, now: datetime, dry_run: bool, batch: int,
           tr: TenantReport, progress: Callable[[str], None]) -> None:
    with core.catalog.read() as conn:
        rules = rules_of(conn, t.id)
        if not any(r.files_days is not None for r in rules.values()):
            return
        holds = holds_of(conn, t.id)
        paths = scan.DirPaths(conn, t.id, preload=True)
        due = []
        for f in scan.files(conn, t.id):
            verdict = scan.verdict(paths, rules, holds, f, now)
            if verdict == "due":
                due.append(f.id)
            tr.held += verdict == "held"
    tr.files_due = len(due)
    if dry_run:
        return
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    for i in range(0, len(due), batch):
        ids = due[i:i + batch]
        with core.catalog.write() as conn:
            ns.lock_tenant(conn, t.id)
            rules, holds = rules_of(conn, t.id), holds_of(conn, t.id)
            paths = scan.DirPaths(conn, t.id)
            found = list(scan.files(conn, t.id, ids))
            paths.prime({f.parent_id for f in found})
            rows = [(f.id, f.owner_id, f.size, f.blob_id, "file") for f in found
                    if scan.verdict(paths, rules, holds, f, now) == "due"]
            files, nbytes = reaper.remove(conn, t.id, rows)
            if files:
                core.audit.append(conn, [event(t, "retention-delete", nbytes=nbytes,
                                               reason=f"files={files} bytes={nbytes}")])
        tr.files_deleted += files
        tr.bytes_deleted += nbytes
        tr.batches += 1
        progress(f"batch {tr.batches} committed: {files} files, {nbytes} bytes")
        if pause:
            time.sleep(pause)
        reaper.drain(core)


def _trash(core: Core, t: Tenant, now: datetime, dry_run: bool, tr: TenantReport) -> None:
    with core.catalog.read() as conn:
        days = trash.days_of(conn, t.id)
        if days is None:
            return
        if dry_run:
            tr.trash_purged = trash.due_count(conn, t.id, days, now)
            return
    purged = trash.purge(core, t.name, older_than_days=days, now=now)
    tr.trash_purged, tr.trash_bytes, tr.trash_held = purged.items, purged.bytes, purged.held
