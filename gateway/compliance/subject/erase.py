"""Art. 17 erasure of a data subject: files, their blobs, the account, identifiers in events.

``erase_request`` (``dry_run=False``), in this order:

1. ``_refuse_if_held``: nothing under a legal hold may go (``retention.holds``), and the
   refusal is audited;
2. one write transaction: the files and the matching folders (with everything inside)
   leave the namespace, their usage leaves the quotas, their WebDAV locks and dead
   properties go, the blob rows no node references any more are released, and the
   account with its keys, app passwords, second factor and failure counters is deleted;
   after the commit the released blobs are deleted from the blob store (every stored
   version: a file's blobs are only those its node references; a copy elsewhere that
   shares a blob keeps it);
3. the paths naming the files are cleared from every event about them, and the free text
   of others' events naming the account (``events.erase_mentions``); the account's own
   events lose every personal field
   through ``gateway.auditv2.erase.erase_subject``: the chain still verifies; the alert
   state (seen networks, alert subjects) and the notification outbox forget them too;
4. a ``subject-erase`` event records the categories and counts, never a value.

``dry_run=True`` resolves and counts exactly the same items and changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select

from gateway import actor, quota
from gateway.alerts.ops import erase_subject as erase_alert_state
from gateway.audit import AuditEvent
from gateway.auditv2.erase import erase_subject
from gateway.catalog import namespace as ns, nswrite
from gateway.catalog.tables import blobs, dav_locks, nodes
from gateway.compliance.retention.holds import check_not_held
from gateway.compliance.subject.account import count_account, remove_account
from gateway.compliance.subject.events import erase_mentions, iter_events
from gateway.compliance.subject.scope import Criteria, Scope, resolve
from gateway.contentstore import ContentStore
from gateway.errors import LegalHold
from gateway.notify.erasure import erase_mentions as erase_notifications

if TYPE_CHECKING:
    from gateway.catalog.namespace import Node
    from gateway.core import Core


@dataclass
class ErasureReport:
    """What an erasure removed (or, for a dry run, would remove)."""

    dry_run: bool
    subject: dict[str, str]
    files: list[dict[str, Any]]
    folders: list[str]
    counts: dict[str, int] = field(default_factory=dict)


def _refuse_if_held(core: Core, scope: Scope) -> None:
    """Refuse (``LegalHold``, naming the hold and how to lift it) when a file or folder of
    ``scope`` is under a legal hold, or the account while its whole tenant is held. Runs
    before anything is counted or changed, for a dry run too; the refusal is audited."""
    paths = [f.path for f in scope.files] + list(scope.folders)
    try:
        check_not_held(core.catalog, scope.tenant_id, paths)
        if scope.criteria.user is not None:  # account data: only a tenant-wide hold keeps it
            check_not_held(core.catalog, scope.tenant_id, ["/"], subtree=False)
    except LegalHold as exc:
        who = actor.current()
        core.audit.write_now([AuditEvent(
            action="subject-erase", protocol=who.protocol, result="denied",
            chain=scope.tenant_id, tenant=scope.criteria.tenant, user=who.user,
            remote_addr=who.remote_addr, reason=f"legal-hold: {exc}")])
        raise


def erase_request(core: Core, criteria: Criteria, *, dry_run: bool = False) -> ErasureReport:
    """Erase (or with ``dry_run`` only list) everything of a data-subject request."""
    core.audit.flush()  # queued events of this process (reads) are stored, so seen too
    scope = resolve(core, criteria)
    _refuse_if_held(core, scope)
    c = scope.criteria
    by_why = Counter(e["why"] for e in iter_events(core, scope))
    event_counts = {f"events_{k.replace('-', '_')}": v for k, v in sorted(by_why.items())}
    report = ErasureReport(dry_run, c.describe(), [f.to_dict() for f in scope.files],
                           list(scope.folders))
    if dry_run:
        with core.catalog.read() as conn:
            tree = _tree(conn, scope)
            report.counts = {**_node_counts(tree), **_blob_counts(conn, tree),
                             **(count_account(conn, c.tenant, c.user, scope.user_id)
                                if c.user else {}),
                             "locks": len(_locks_about(conn, scope))}
        report.counts.update(event_counts)
        return report
    content = ContentStore(core.catalog, core.store, core.keyring, core.config,
                           scope.tenant_id)
    with core.catalog.write() as conn:
        if conn.dialect.name == "sqlite":  # freed pages are overwritten, not left readable
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        ns.lock_tenant(conn, scope.tenant_id)
        tree = _tree(conn, scope)
        counts = {**_node_counts(tree), **_blob_counts(conn, tree), **event_counts}
        deltas = {owner: [-b, -f] for owner, (b, f) in ns.usage_by_owner(tree).items()}
        if deltas:
            quota.charge(conn, scope.tenant_id, deltas)
        for part in _parts(tree):
            nswrite.delete_nodes(conn, scope.tenant_id, part)
        dead = [b for b in sorted({n.blob_id for n in tree if n.blob_id})
                if content.release(conn, b)]
        tokens = _locks_about(conn, scope)
        if tokens:
            conn.execute(delete(dav_locks).where(dav_locks.c.token.in_(tokens)))
        counts["locks"] = len(tokens)
        if c.user:
            counts.update(remove_account(conn, c.tenant, scope.tenant_id, c.user,
                                         scope.user_id))
    content.delete_stored(dead)
    counts["events_naming_files_or_account_cleared"] = erase_mentions(core, scope)
    if c.user:
        erased = erase_subject(core, c.tenant, c.user)
        counts["events_of_subject_erased"] = erased.get("events", 0)
        counts["admin_events_naming_subject"] = erased.get("admin_events_naming_user", 0)
        counts["alerts_about_subject"] = erase_alert_state(core, c.tenant, c.user)
    counts["notifications_about_subject"] = erase_notifications(
        core.catalog, scope.tenant_id, f"{c.user}@{c.tenant}" if c.user else None,
        scope.about_path)
    report.counts = counts
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    who = actor.current()
    core.audit.write_now([AuditEvent(
        action="subject-erase", protocol=who.protocol, chain=scope.tenant_id, tenant=c.tenant,
        user=who.user, remote_addr=who.remote_addr, bytes=counts.get("file_bytes", 0),
        reason=f"data-subject erasure ({', '.join(sorted(c.describe().keys() - {'tenant'}))}"
               f"): {summary}")])
    return report


def _tree(conn: Connection, scope: Scope) -> list[Node]:
    """The nodes to delete, as of now: each matching folder's subtree (parents first),
    then the single files not inside one."""
    out: list[Node] = []
    seen: set[int] = set()
    for folder_id in scope.folder_ids:
        for n in ns.subtree(conn, scope.tenant_id, folder_id):
            if n.id not in seen:
                seen.add(n.id)
                out.append(n)
    for item in scope.files:
        if item.node_id not in seen:
            n = ns.by_id(conn, scope.tenant_id, item.node_id)
            if n is not None:
                seen.add(n.id)
                out.append(n)
    return out


def _parts(tree: list[Node]) -> list[list[Node]]:
    """``delete_nodes`` takes one subtree at a time (parents first); single files alone."""
    parts: list[list[Node]] = []
    ids: set[int] = set()
    for n in tree:
        if parts and n.parent_id in ids:
            parts[-1].append(n)
        else:
            parts.append([n])
            ids = set()
        ids.add(n.id)
    return parts


def _node_counts(tree: list[Node]) -> dict[str, int]:
    files = [n for n in tree if n.kind == ns.FILE]
    return {"files": len(files), "folders": len(tree) - len(files),
            "file_bytes": sum(n.size for n in files)}


def _blob_counts(conn: Connection, tree: list[Node]) -> dict[str, int]:
    """Blobs no node outside ``tree`` references: released with it (stored / inline)."""
    ids = {n.id for n in tree}
    stored = inline = 0
    for blob_id in {n.blob_id for n in tree if n.blob_id}:
        others = conn.execute(select(func.count()).where(
            nodes.c.blob_id == blob_id, nodes.c.id.not_in(ids))).scalar()
        if others:
            continue
        in_store = conn.execute(select(blobs.c.inline_data.is_(None))
                                .where(blobs.c.id == blob_id)).scalar()
        if in_store:
            stored += 1
        else:
            inline += 1
    return {"blobs_in_store": stored, "blobs_inline": inline}


def _locks_about(conn: Connection, scope: Scope) -> list[str]:
    rows = conn.execute(select(dav_locks.c.token, dav_locks.c.root)
                        .where(dav_locks.c.tenant_id == scope.tenant_id)).all()
    return [r.token for r in rows if scope.about_path(r.root)]
