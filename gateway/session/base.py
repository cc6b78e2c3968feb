"""What every part of the Session shares: identity, audit plumbing, path resolution,
permission and lock checks.

The parts (``reads``, ``writes``, ``changes``) each add one group of operations on top
of ``SessionBase``; ``gateway.session.Session`` combines them.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING

from gateway import authz, quota
from gateway.audit import AuditEvent
from gateway.auditedop import AuditedOp, record_failure
from gateway.catalog import namespace as ns, retention_policy
from gateway.contentstore import ContentStore
from gateway.entry import Entry, entry_of
from gateway.errors import GatewayError, HiddenPath, LegalHold, NotADirectory
from gateway.names import join_path, split_path
from gateway.session.locking import SessionLocks
from gateway.session.lookahead import PREPARE, Lookahead, Prepared

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gateway.catalog.namespace import Node
    from gateway.principal import Principal
    from gateway.quota import Usage
    from gateway.services import CoreServices


class SessionBase:
    """One authenticated principal speaking one protocol from one address."""

    def __init__(self, core: CoreServices, principal: Principal, protocol: str,
                 remote_addr: str, session_id: str | None = None,
                 guard: Callable[[], None] | None = None) -> None:
        """``guard`` is called before every operation and raises to refuse it: long-lived
        sessions (SSH) pass the policy's re-check, so a disabled account, an expired one
        or a withdrawn protocol stops working mid-session, not only at the next login.

        WebDAV locks bind every protocol: a change to a locked file or folder is refused
        with ``Locked`` inside its transaction, unless the call presents the lock's token
        (``lock_tokens``) and this principal owns the lock (gateway/session/locking.py)."""
        self.core = core
        self.principal = principal
        self.protocol = protocol
        self.remote_addr = remote_addr
        self.session_id = session_id or secrets.token_hex(8)
        self.tenant_id = principal.tenant_id
        self._ci = principal.case_insensitive
        self._root_id: int | None = None
        self.guard = guard
        self._locks = SessionLocks(self)
        #: the tenant's blobs (cheap to make: it reads its configuration when used)
        self.content = ContentStore(core.catalog, core.store, core.keyring, core.config,
                                    self.tenant_id, core.stores, principal.placement)
        self._ahead = Lookahead()

    # --- audit plumbing -------------------------------------------------------------------
    def _event(self, action: str, path: str | None, dest: str | None = None) -> AuditEvent:
        p = self.principal
        return AuditEvent(action=action, protocol=self.protocol, chain=p.tenant_id,
                          tenant=p.tenant_name, user=p.user_name, remote_addr=self.remote_addr,
                          session_id=self.session_id, path=path, dest_path=dest)

    def _new_op(self, action: str, path: str | None, dest: str | None = None) -> AuditedOp:
        return AuditedOp(self.core.audit, self._event(action, path, dest))

    @contextlib.contextmanager
    def _op(self, action: str, path: str | None, dest: str | None = None
            ) -> Iterator[AuditedOp]:
        """One audited operation: the guard first; a failure is recorded with its
        reason; a success not appended inside its transaction is recorded at the end."""
        op = self._new_op(action, path, dest)
        try:
            if self.guard is not None:
                self.guard()
            yield op
        except BaseException as exc:
            op.fail(exc)
            raise
        if not op.recorded:
            op.finish()

    def _record_failure(self, event: AuditEvent, started: float, exc: BaseException) -> None:
        record_failure(self.core.audit, event, started, exc)

    def record(self, action: str, *, path: str | None = None, result: str = "ok",
               reason: str | None = None, nbytes: int | None = None) -> None:
        """Audit an event the front-end observed (e.g. session start/end)."""
        ev = self._event(action, path)
        ev.result, ev.reason, ev.bytes = result, reason, nbytes
        self.core.audit.record(ev)

    # --- catalog access ----------------------------------------------------------------------
    def _root(self, conn: Connection) -> int:
        """The tenant's root node id (fixed for the tenant's lifetime), cached per process:
        WebDAV opens a Session per request."""
        if self._root_id is None:
            cached = self.core.root_ids.get(self.tenant_id)
            if cached is None:
                cached = self.core.root_ids[self.tenant_id] = ns.root(conn, self.tenant_id).id
            self._root_id = cached
        return self._root_id

    @contextlib.contextmanager
    def _write_tx(self) -> Iterator[Connection]:
        """A write transaction that owns this tenant's namespace until it ends.

        On PostgreSQL the tenant row is locked first, so namespace changes of one tenant
        are serialised across gateway nodes exactly as SQLite's single writer serialises
        them; different tenants still write in parallel.
        """
        self._ahead.forget()  # what this session read may change now
        with self.core.catalog.write() as conn:
            ns.lock_tenant(conn, self.tenant_id)
            yield conn

    def _resolve(self, conn: Connection, parts: list[str]) -> Node:
        return ns.resolve(conn, self.tenant_id, parts, self._ci, self._root(conn))

    def _resolve_named(self, conn: Connection, parts: list[str]) -> tuple[Node, str]:
        """The node and its path spelled as stored (case-insensitive tenants: the stored
        case, not the case the client typed)."""
        names: list[str] = []
        node = ns.resolve(conn, self.tenant_id, parts, self._ci, self._root(conn), names)
        return node, join_path(names)

    def _resolve_parent(self, conn: Connection, parts: list[str]) -> tuple[Node, Node | None]:
        return ns.resolve_parent(conn, self.tenant_id, parts, self._ci, self._root(conn))

    def _charge(self, conn: Connection, deltas: quota.Deltas) -> None:
        """Apply usage deltas atomically; QuotaExceeded if a positive delta does not fit."""
        quota.charge(conn, self.tenant_id, deltas)

    def stat_quiet(self, path: str, *, prepare: str | None = None) -> Entry:
        """Stat without an audit event: for front-ends describing a result just audited,
        or resolving a request path before its operation (WebDAV).

        ``prepare`` ("stat", "read" or "write"): the caller runs ``stat``/``list``,
        ``open_read`` or ``open_write`` on this path next; the same read transaction
        fetches what that call needs, and the call (and a ``stat_quiet`` of the path's
        folder) then looks up nothing more (gateway/session/lookahead.py)."""
        parts = split_path(path)
        if prepare is None:
            known = self._ahead.entry(parts)
            if known is not None:
                return known
        elif prepare not in PREPARE:
            raise ValueError(f"prepare must be one of {PREPARE}, not {prepare!r}")
        with self.core.catalog.read() as conn:
            if prepare is None or not parts:
                node, stored = self._resolve_named(conn, parts)
                return entry_of(stored, node)
            facts = self._write_facts(conn, parts, parent_row=True, usage=True) \
                if prepare == "write" else self._read_facts(conn, parts, prepare == "read")
        self._ahead.keep(facts)
        return facts.entry()

    def _read_facts(self, conn: Connection, parts: list[str], key: bool = True) -> Prepared:
        """The node at ``parts`` and (``key``), for a file with content, its blob's key row."""
        node, stored = self._resolve_named(conn, parts)
        row = self.content.key_row(conn, node.blob_id) if key and node.blob_id else None
        return Prepared(tuple(parts), node, stored, blob_key=row)

    def _node_at(self, parts: list[str]) -> tuple[Node, str]:
        """The node at ``parts`` and its path as stored: from the request's prepared
        look-up while it is fresh, else read now."""
        facts = self._ahead.of(parts)
        if facts is not None:
            facts.entry()  # NotFound for a path it found missing
            assert facts.node is not None
            return facts.node, facts.stored
        with self.core.catalog.read() as conn:
            return self._resolve_named(conn, parts)

    def _write_facts(self, conn: Connection, parts: list[str], *, parent_row: bool,
                     usage: bool) -> Prepared:
        """What a write of ``parts`` checks before its body arrives: the parent folder
        (a full row if ``parent_row``, else possibly the root's id only), the node there
        now (or None), the tenant's locks and (``usage``) the quota usage."""
        names: list[str] = []
        if len(parts) == 1 and not parent_row:
            parent, node = self._resolve_parent(conn, parts)  # the root's id: no query
        else:
            if len(parts) == 1:  # the root's full row: the caller asks for it next
                parent = ns.root(conn, self.tenant_id)
                self._root_id = self.core.root_ids[self.tenant_id] = parent.id
            else:
                parent = ns.resolve(conn, self.tenant_id, parts[:-1], self._ci,
                                    self._root(conn), names)
            if not parent.is_dir:
                raise NotADirectory(f"{join_path(parts[:-1])} is a file, not a folder")
            node = ns.child(conn, self.tenant_id, parent.id, parts[-1], self._ci)
        stored = join_path([*names, parts[-1] if node is None else node.name])
        return Prepared(tuple(parts), node, stored, parent, join_path(names),
                        locks=self._locks.read(conn),
                        usage=quota.read_usage(conn, self.tenant_id, self.principal.user_id)
                        if usage else None)

    def usage(self) -> Usage:
        """Used and allowed bytes/files (the tighter of the tenant's and the user's)."""
        with self.core.catalog.read() as conn:
            return quota.read_usage(conn, self.tenant_id, self.principal.user_id)

    # --- permissions and locks ---------------------------------------------------------------
    def _parts(self, path: str) -> tuple[list[str], str]:
        parts = split_path(path)
        return parts, join_path(parts)

    def _require(self, perm: str, path: str) -> None:
        """Refuse ``perm`` on ``path``: 403 if the principal can see it, else as missing."""
        authz.require(self.principal, perm, path)

    def _require_seen(self, path: str) -> None:
        if not authz.visible(self.principal, path):
            raise HiddenPath(f"no permission on {path}; answered as missing")

    def screen(self, action: str, perm: str, path: str) -> None:
        """For front-ends that resolve a path before the operation (WebDAV): refuse a
        path the principal may not see (and may not ``perm``) as missing, audited, before
        anything it does next can tell whether the path exists."""
        norm = join_path(split_path(path))
        self._refuse(action, norm, authz.hidden(self.principal, perm, norm))

    def may(self, perm: str, path: str, *, audit_as: str | None = None) -> bool:
        """Does the principal hold ``perm`` on ``path``? Front-ends ask here instead of
        reading rules: a yes/no for display (SFTP mode bits); with ``audit_as`` a refusal
        is raised (``PermissionDenied``, or ``HiddenPath`` for a path the principal may not
        see: answered as missing) and audited as that action, as the operation would."""
        if audit_as is None:
            return self.principal.allowed(perm, path)
        norm = join_path(split_path(path))
        self._refuse(audit_as, norm, authz.refusal(self.principal, perm, norm))
        return True

    def _refuse(self, action: str, norm: str, err: GatewayError | None) -> None:
        """Raise ``err`` (if any), audited as ``action`` on ``norm`` the way a refused
        operation is (result and reason from the error, audit-only detail included)."""
        if err is not None:
            self._record_failure(self._event(action, norm), time.monotonic(), err)
            raise err

    def _check_unlocked(self, conn: Connection, parts: list[str],
                        tokens: Collection[str] | None = None, *, membership: bool = False,
                        subtree: bool = False) -> None:
        """Refuse a change a WebDAV lock forbids, unless ``tokens`` hold it (see
        ``SessionLocks.check``)."""
        self._locks.check(conn, parts, tokens, membership=membership, subtree=subtree)

    def _deletion_policy(self, conn: Connection, parts: list[str], *, subtree: bool = False,
                         trash: bool = False) -> retention_policy.DeletionPolicy:
        """Refuse with ``LegalHold`` a deletion, replacement or move-away of ``parts``
        (``subtree``: a folder with all it holds) that a legal hold covers; else the
        tenant's trash days (with ``trash``)."""
        policy = retention_policy.deletion_policy(
            conn, self.tenant_id, [retention_policy.path_key(parts, self._ci)],
            subtree=subtree, trash=trash)
        if policy.hold is not None:
            raise LegalHold(retention_policy.hold_message(join_path(parts), policy.hold))
        return policy
