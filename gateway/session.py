"""Session: the only door to files, shared by every front-end.

A ``Session`` is one authenticated principal speaking one protocol from one address.
Every public method resolves paths through the catalog, checks the principal's
permissions and the quotas, does the work, and emits exactly one audit event, whether it
succeeded, was refused or failed. Front-ends translate protocol requests into these calls
and map the ``gateway.errors`` types back to protocol status codes.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql.dml import Update

from gateway import authz, permissions
from gateway.audit import AuditEvent
from gateway.blobio import BlobReader, BlobRecord, BlobWriter
from gateway.catalog import locks as dav_locks
from gateway.catalog import namespace as ns
from gateway.catalog.namespace import DIR, FILE, Node
from gateway.catalog.tables import blobs, nodes, tenants, users
from gateway.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    GatewayError,
    HiddenPath,
    InvalidMove,
    IsADirectory,
    Locked,
    NotADirectory,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)
from gateway.names import join_path, name_key, split_path
from gateway.outcomes import failure_result
from gateway.principal import Principal
from gateway.writeroom import WriteRoom, check_max_file_size

if TYPE_CHECKING:
    from gateway.core import Core
    from gateway.filewriter import FileWriter

# hot statements, built once (their parameters change per call)
_INSERT_BLOB = blobs.insert()
_INSERT_NODE = nodes.insert()
_CONTENT = ("size", "blob_id", "content_mac", "etag", "owner_id", "mtime")
_UPDATE_CONTENT = update(nodes).where(nodes.c.id == bindparam("node")).values(
    {c: bindparam(c) for c in _CONTENT})
_TOUCH = update(nodes).where(nodes.c.id == bindparam("node")).values(
    mtime=bindparam("mtime"), etag=bindparam("etag"))
_USAGE = select(
    tenants.c.used_bytes, tenants.c.quota_bytes, tenants.c.used_files, tenants.c.quota_files,
    users.c.used_bytes.label("u_used_bytes"), users.c.quota_bytes.label("u_quota_bytes"),
    users.c.used_files.label("u_used_files"), users.c.quota_files.label("u_quota_files"),
).select_from(tenants.outerjoin(users, users.c.id == bindparam("u"))).where(
    tenants.c.id == bindparam("t"))
_RELEASE_BLOB = delete(blobs).where(
    blobs.c.id == bindparam("b"), ~exists().where(nodes.c.blob_id == bindparam("b"))
).returning(func.length(blobs.c.inline_data).label("inline_len"))
# (not "inline_data IS NULL": SQLite 3.40 evaluates that wrongly in a DELETE's RETURNING)
_BLOB_KEYS = select(blobs.c.key_version, blobs.c.wrapped_key, blobs.c.stored_size,
                    blobs.c.inline_data).where(
    blobs.c.id == bindparam("b"), blobs.c.tenant_id == bindparam("t"))


@dataclass(frozen=True)
class Entry:
    """What stat and list return: a node plus its path."""

    path: str
    name: str
    kind: str
    size: int
    mtime: datetime
    ctime: datetime
    etag: str
    content_mac: str | None  # HMAC-SHA256 under the tenant's key (gateway/contentmac.py)
    node_id: int

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR


@dataclass(frozen=True)
class Usage:
    """Quota and usage for statvfs / RFC 4331: the tighter of tenant and user limits."""

    used_bytes: int
    quota_bytes: int | None
    used_files: int
    quota_files: int | None

    @property
    def available_bytes(self) -> int | None:
        return None if self.quota_bytes is None else max(0, self.quota_bytes - self.used_bytes)


def _entry(path: str, node: Node) -> Entry:
    name = path.rsplit("/", 1)[-1]
    return Entry(path, name, node.kind, node.size, node.mtime, node.ctime, node.etag,
                 node.content_mac, node.id)


@functools.cache
def _usage_update(table_name: str, check_bytes: bool, check_files: bool) -> Update:
    """``UPDATE <tenants|users> SET used += :b, :f WHERE <row> [AND it still fits]``."""
    table = tenants if table_name == "tenants" else users
    c = table.c
    stmt = update(table).where(c.id == bindparam("row")).values(
        used_bytes=c.used_bytes + bindparam("b"), used_files=c.used_files + bindparam("f"))
    if table is users:
        stmt = stmt.where(c.tenant_id == bindparam("tenant"))
    if check_bytes:
        stmt = stmt.where(or_(c.quota_bytes.is_(None),
                              c.used_bytes + bindparam("b") <= c.quota_bytes))
    if check_files:
        stmt = stmt.where(or_(c.quota_files.is_(None),
                              c.used_files + bindparam("f") <= c.quota_files))
    return stmt


def _add_usage(conn: Connection, table: Table, params: dict[str, str], add_bytes: int,
               add_files: int) -> bool:
    """Add to a row's usage counters unless a positive addition would pass its quota.

    One conditional UPDATE, so the check and the change are atomic across processes.
    Returns False when the row is missing or over quota."""
    stmt = _usage_update(table.name, add_bytes > 0, add_files > 0)
    return conn.execute(stmt, {**params, "b": add_bytes, "f": add_files}).rowcount == 1


class _Op:
    """Bookkeeping of one audited operation."""

    def __init__(self, session: Session, action: str, path: str | None, dest: str | None):
        self.session = session
        self.event = session._event(action, path, dest)
        self.started = time.monotonic()
        self.recorded = False

    def commit_in(self, conn: Connection) -> None:
        """Append the success event inside the transaction that does the work."""
        self.event.duration_ms = int((time.monotonic() - self.started) * 1000)
        self.session.core.audit.append(conn, [self.event])
        self.recorded = True


class Session:
    """Operations on one tenant's files on behalf of one principal."""

    def __init__(self, core: Core, principal: Principal, protocol: str, remote_addr: str,
                 session_id: str | None = None,
                 guard: Callable[[], None] | None = None,
                 checks_dav_locks: bool = False) -> None:
        """``guard`` is called before every operation and raises to refuse it: long-lived
        sessions (SSH) pass the policy's re-check, so a disabled account, an expired one
        or a withdrawn protocol stops working mid-session, not only at the next login.

        WebDAV locks bind every protocol: a change to a locked file or folder is refused
        with ``Locked`` inside its transaction, unless ``checks_dav_locks`` says the
        front-end checks them itself (WebDAV, which knows the client's lock tokens)."""
        self.core = core
        self.principal = principal
        self.protocol = protocol
        self.remote_addr = remote_addr
        self.session_id = session_id or secrets.token_hex(8)
        self.tenant_id = principal.tenant_id
        self._ci = principal.case_insensitive
        self._root_id: int | None = None
        self.guard = guard
        self.checks_dav_locks = checks_dav_locks

    # --- audit plumbing -------------------------------------------------------------------
    def _event(self, action: str, path: str | None, dest: str | None = None) -> AuditEvent:
        p = self.principal
        return AuditEvent(action=action, protocol=self.protocol, chain=p.tenant_id,
                          tenant=p.tenant_name, user=p.user_name, remote_addr=self.remote_addr,
                          session_id=self.session_id, path=path, dest_path=dest)

    @contextlib.contextmanager
    def _op(self, action: str, path: str | None, dest: str | None = None) -> Iterator[_Op]:
        op = _Op(self, action, path, dest)
        try:
            if self.guard is not None:
                self.guard()
            yield op
        except BaseException as exc:
            self._record_failure(op.event, op.started, exc)
            raise
        if not op.recorded:
            op.event.duration_ms = int((time.monotonic() - op.started) * 1000)
            self.core.audit.record(op.event)

    def _record_failure(self, event: AuditEvent, started: float, exc: BaseException) -> None:
        event.result = failure_result(event.action, exc)  # denied | miss | error
        reason = getattr(exc, "reason", None) or type(exc).__name__
        message = (getattr(exc, "detail", "") or str(exc)) if isinstance(exc, GatewayError) \
            else type(exc).__name__  # detail: audit-only text (HiddenPath, AuthenticationFailed)
        event.reason = f"{reason}: {message}" if message and message != reason else reason
        event.duration_ms = int((time.monotonic() - started) * 1000)
        event.sha256 = None
        self.core.audit.record(event)

    def record(self, action: str, *, path: str | None = None, result: str = "ok",
               reason: str | None = None, nbytes: int | None = None) -> None:
        """Audit an event the front-end observed (e.g. session start/end)."""
        ev = self._event(action, path)
        ev.result, ev.reason, ev.bytes = result, reason, nbytes
        self.core.audit.record(ev)

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

    # --- helpers -----------------------------------------------------------------------------
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
        err = authz.hidden(self.principal, perm, norm)
        if err is not None:
            self._record_failure(self._event(action, norm), time.monotonic(), err)
            raise err

    def may(self, perm: str, path: str, *, audit_as: str | None = None) -> bool:
        """Holds the principal ``perm`` on ``path``? (display; ``audit_as``: refuse, audited)"""
        return permissions.may(self, perm, path, audit_as)

    def check_lock(self, path: str, *, subtree: bool) -> None:
        """May this principal lock ``path`` (``subtree``: a depth-infinity lock, which
        needs write on every node below)? Refusals are audited as action ``lock``."""
        with self._op("lock", path) as op:
            op.recorded = True  # a grant is audited by the front-end, with its details
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require("write", norm)
            if subtree:
                with self.core.catalog.read() as conn:
                    try:
                        node = self._resolve(conn, parts)
                    except (NotFound, NotADirectory):
                        return  # a lock-null resource: nothing below it yet
                    authz.require_subtree(conn, self.principal, "write", norm, node)

    def _check_unlocked(self, conn: Connection, parts: list[str], *, membership: bool = False,
                        subtree: bool = False) -> None:
        """Refuse a change a WebDAV lock forbids (see ``locks.blocking_lock``)."""
        if self.checks_dav_locks:
            return
        lock = dav_locks.blocking_lock(conn, self.tenant_id, parts, self._ci,
                                   membership=membership, subtree=subtree)
        if lock is not None:
            raise Locked(f"{join_path(parts)} is locked (WebDAV lock by "
                         f"{lock['principal'] or 'another client'}); try again later")

    def _open_blob(self, node: Node, conn: Connection | None = None) -> BlobReader:
        if conn is None:
            with self.core.catalog.read() as conn:
                return self._open_blob(node, conn)
        row = conn.execute(_BLOB_KEYS, {"b": node.blob_id, "t": self.tenant_id}).first()
        if row is None:
            raise NotFound("file content is missing from the catalog")
        return BlobReader(self.core.store, self.core.keyring, self.tenant_id, node.blob_id or "",
                          row.key_version, row.wrapped_key, row.stored_size, row.inline_data)

    def _open_blob_record(self, record: BlobRecord) -> BlobReader:
        return BlobReader(self.core.store, self.core.keyring, self.tenant_id, record.id,
                          record.key_version, record.wrapped_key, record.stored_size,
                          record.inline)

    def _new_blob_writer(self) -> BlobWriter:
        return BlobWriter(self.core.store, self.core.keyring, self.tenant_id,
                          self.core.config.storage.inline_max_bytes)

    def _discard_blob(self, record: BlobRecord) -> None:
        """Delete a finished blob that never became visible (inline ones vanish with it)."""
        if record.in_store:
            self.core.store.delete(record.id)

    # --- reading -----------------------------------------------------------------------------
    def stat(self, path: str) -> Entry:
        with self._op("stat", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require_seen(norm)
            with self.core.catalog.read() as conn:
                node, stored = self._resolve_named(conn, parts)
            return _entry(stored, node)

    def list(self, path: str, *, page_size: int = 1000) -> Iterator[Entry]:
        """Stream a folder's entries in name order, page by page (bounded memory)."""
        with self._op("list", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            full = self.principal.allowed("list", norm)
            if not full and not self.principal.may_traverse(norm):
                self._require("list", norm)
            with self.core.catalog.read() as conn:
                node, stored = self._resolve_named(conn, parts)
            if not node.is_dir:
                raise NotADirectory(f"{norm} is a file, not a folder")
        return self._iter_entries(node, stored, full, page_size)

    def _iter_entries(self, node: Node, norm: str, full: bool,
                      page_size: int) -> Iterator[Entry]:
        base = "" if norm == "/" else norm
        hide = authz.child_filter(self.principal, norm) if full else None
        for child in ns.iter_children(self.core.catalog.read, self.tenant_id, node.id, self._ci,
                                      page_size):
            child_path = f"{base}/{child.name}"
            if (full and (hide is None or hide(child_path))) or \
                    self.principal.may_traverse(child_path):
                yield _entry(child_path, child)

    def open_read(self, path: str, offset: int = 0, length: int | None = None) -> FileReader:
        """A reader over ``[offset, offset+length)`` of a file. Audited when closed."""
        op = _Op(self, "read", path, None)
        try:
            if self.guard is not None:
                self.guard()
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require("read", norm)
            with self.core.catalog.read() as conn:
                node, stored = self._resolve_named(conn, parts)
                if node.is_dir:
                    raise IsADirectory(f"{norm} is a folder")
                reader = self._open_blob(node, conn) if node.blob_id else None
        except BaseException as exc:
            self._record_failure(op.event, op.started, exc)
            raise
        return FileReader(self, op, _entry(stored, node), reader, offset, length)

    def read_file(self, path: str) -> bytes:
        with self.open_read(path) as reader:
            return reader.read()

    # --- writing -----------------------------------------------------------------------------
    def open_write(self, path: str, *, truncate: bool = True, exclusive: bool = False,
                   must_exist: bool = False, expected_length: int | None = None,
                   precommit: Callable[[Connection], None] | None = None) -> FileWriter:
        """A write handle; the new version is committed by ``close()``.

        ``truncate=False`` keeps the previous content (resume, append, random updates);
        ``exclusive`` fails if the file exists; ``must_exist`` fails if it does not;
        ``expected_length`` makes ``close()`` refuse a body of another length;
        ``precommit(conn)`` runs inside the commit transaction and may raise to refuse it
        (e.g. a WebDAV lock taken by someone else while the body was arriving).
        """
        from gateway.filewriter import FileWriter

        started = time.monotonic()
        event = self._event("write", path)
        try:
            if self.guard is not None:
                self.guard()
            parts, norm = self._parts(path)
            event.path = norm
            if not parts:
                raise IsADirectory("the root folder cannot be written as a file")
            self._require("write", norm)
            with self.core.catalog.read() as conn:
                _parent, existing = self._resolve_parent(conn, parts)
                if existing is not None and existing.is_dir:
                    raise IsADirectory(f"{norm} is a folder")
                if existing is not None and exclusive:
                    raise AlreadyExists(f"{norm} already exists")
                if existing is None and must_exist:
                    raise NotFound(f"{norm} does not exist")
                self._check_unlocked(conn, parts, membership=existing is None)  # early
                usage = None
                if expected_length is not None:  # refused before the body arrives
                    check_max_file_size(self, norm, expected_length)
                    old = existing.size if existing is not None and truncate else 0
                    usage = self._precheck_quota(conn, expected_length - old,
                                                 0 if existing else 1)
        except BaseException as exc:
            self._record_failure(event, started, exc)
            raise
        room = WriteRoom(self, norm, existing.size if existing is not None else 0, usage)
        if existing is not None and not truncate and existing.blob_id is None:
            existing = None
        writer = FileWriter(self, norm, parts, existing, truncate=truncate,
                            exclusive=exclusive, expected_length=expected_length, room=room)
        writer.precommit = precommit
        return writer

    def write_file(self, path: str, data: bytes) -> Entry:
        """Write a whole file in one call (tests, CLI, small files)."""
        with self.open_write(path, expected_length=len(data)) as writer:
            writer.write(data)
        assert writer.entry is not None
        return writer.entry

    def stat_quiet(self, path: str,
                   also: Callable[[Connection], None] | None = None) -> Entry:
        """Stat without an audit event: for front-ends describing a result just audited.
        ``also(conn)`` runs first in the same read transaction (one snapshot, one round
        trip: e.g. the WebDAV locks a write request is about to check)."""
        parts = split_path(path)
        with self.core.catalog.read() as conn:
            if also is not None:
                also(conn)
            node, stored = self._resolve_named(conn, parts)
        return _entry(stored, node)

    def _precheck_quota(self, conn: Connection, add_bytes: int, add_files: int) -> Usage:
        usage = self._usage(conn)
        if usage.quota_bytes is not None and add_bytes > 0 and \
                usage.used_bytes + add_bytes > usage.quota_bytes:
            raise QuotaExceeded("not enough quota for this upload")
        if usage.quota_files is not None and add_files > 0 and \
                usage.used_files + add_files > usage.quota_files:
            raise QuotaExceeded("file count quota reached")
        return usage

    def _commit_write(self, writer: FileWriter, parts: list[str], record: BlobRecord,
                      exclusive: bool) -> Entry:
        """Switch the catalog to the new blob: one transaction with quota and audit."""
        event = self._event("write", writer.path)
        event.bytes, event.sha256 = writer.received, record.content_mac  # a MAC, not a digest
        now = datetime.now(UTC)
        old_blob: str | None = None
        with self._write_tx() as conn:
            parent, existing = self._resolve_parent(conn, parts)
            if existing is not None and existing.is_dir:
                raise IsADirectory(f"{writer.path} is a folder")
            if existing is not None and exclusive:
                raise AlreadyExists(f"{writer.path} already exists")
            self._check_unlocked(conn, parts, membership=existing is None)
            if writer.precommit is not None:
                writer.precommit(conn)
            deltas: dict[str | None, list[int]] = {self.principal.user_id: [record.size, 0]}
            if existing is None:
                deltas[self.principal.user_id][1] = 1
            else:
                old = deltas.setdefault(existing.owner_id, [0, 0])
                old[0] -= existing.size
            self._charge(conn, deltas)
            conn.execute(_INSERT_BLOB, {
                "id": record.id, "tenant_id": self.tenant_id, "size": record.size,
                "stored_size": record.stored_size, "key_version": record.key_version,
                "wrapped_key": record.wrapped_key, "content_mac": record.content_mac,
                "created_at": now, "inline_data": record.inline})
            values = dict(size=record.size, blob_id=record.id, content_mac=record.content_mac,
                          etag=ns.new_etag(), owner_id=self.principal.user_id, mtime=now)
            if existing is None:
                node_id = conn.execute(_INSERT_NODE, {
                    "tenant_id": self.tenant_id, "parent_id": parent.id, "name": parts[-1],
                    "name_key": name_key(parts[-1], self._ci), "kind": FILE, "ctime": now,
                    **values}).inserted_primary_key[0]
                self._touch(conn, parent.id, now)
                name, ctime = parts[-1], now
            else:
                conn.execute(_UPDATE_CONTENT, {"node": existing.id, **values})
                old_blob = self._release_blob(conn, existing.blob_id)
                node_id, name, ctime = existing.id, existing.name, existing.ctime
            event.duration_ms = int((time.monotonic() - writer.started) * 1000)
            self.core.audit.append(conn, [event])
        if old_blob:
            self.core.store.delete(old_blob)
        base = writer.path.rsplit("/", 1)[0]
        return Entry(f"{base}/{name}", name, FILE, record.size, now, ctime, values["etag"],
                     record.content_mac, node_id)

    def _write_failed(self, writer: FileWriter, exc: BaseException) -> None:
        event = self._event("write", writer.path)
        event.bytes = writer.received
        self._record_failure(event, writer.started, exc)

    # --- quotas and bookkeeping --------------------------------------------------------------
    def _charge(self, conn: Connection, deltas: dict[str | None, list[int]]) -> None:
        """Apply usage deltas atomically; QuotaExceeded if a positive delta does not fit."""
        total_b = sum(d[0] for d in deltas.values())
        total_f = sum(d[1] for d in deltas.values())
        if not _add_usage(conn, tenants, {"row": self.tenant_id}, total_b, total_f):
            raise QuotaExceeded("the tenant's storage quota is exhausted")
        for owner, (db, df) in sorted(deltas.items(), key=lambda kv: kv[0] or ""):
            if owner is None or (db == 0 and df == 0):
                continue
            params = {"row": owner, "tenant": self.tenant_id}
            if not _add_usage(conn, users, params, db, df) and (db > 0 or df > 0):
                known = conn.execute(select(users.c.id).where(users.c.id == owner)).first()
                if known is not None:  # a deleted owner has no quota to exceed
                    raise QuotaExceeded("your storage quota is exhausted")

    def _release_blob(self, conn: Connection, blob_id: str | None) -> str | None:
        """Drop a blob row no node references any more; returns its id if the blob store
        holds content to delete after the commit (an inline blob goes with its row)."""
        if blob_id is None:
            return None
        row = conn.execute(_RELEASE_BLOB, {"b": blob_id}).first()
        return blob_id if row is not None and row.inline_len is None else None

    def _touch(self, conn: Connection, node_id: int, now: datetime) -> None:
        conn.execute(_TOUCH, {"node": node_id, "mtime": now, "etag": ns.new_etag()})

    def _usage(self, conn: Connection) -> Usage:
        row = conn.execute(_USAGE, {"t": self.tenant_id, "u": self.principal.user_id}).one()
        candidates = [tuple(row[:4])]
        if row.u_used_bytes is not None:  # the user still exists
            candidates.append(tuple(row[4:]))

        def room(c: tuple) -> float:
            return float("inf") if c[1] is None else c[1] - c[0]

        def room_files(c: tuple) -> float:
            return float("inf") if c[3] is None else c[3] - c[2]

        b = min(candidates, key=room)
        f = min(candidates, key=room_files)
        return Usage(b[0], b[1], f[2], f[3])

    def usage(self) -> Usage:
        """Used and allowed bytes/files (the tighter of the tenant's and the user's)."""
        with self.core.catalog.read() as conn:
            return self._usage(conn)

    # --- namespace changes -------------------------------------------------------------------
    def mkdir(self, path: str, *, parents: bool = False, exist_ok: bool = False) -> Entry:
        with self._op("mkdir", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            if not parts:
                if exist_ok:
                    return self.stat_quiet("/")
                raise AlreadyExists("the root folder always exists")
            self._require("write", norm)
            now = datetime.now(UTC)
            with self._write_tx() as conn:
                node = ns.root(conn, self.tenant_id)
                for i, part in enumerate(parts):
                    found = ns.child(conn, self.tenant_id, node.id, part, self._ci)
                    last = i == len(parts) - 1
                    if found is not None:
                        if not found.is_dir:
                            raise NotADirectory(f"{join_path(parts[:i + 1])} is a file")
                        if last and not exist_ok:
                            raise AlreadyExists(f"{norm} already exists")
                        node = found
                        continue
                    if not last and not parents:
                        raise NotFound(f"{join_path(parts[:i + 1])} does not exist")
                    self._check_unlocked(conn, parts[:i + 1], membership=True)
                    new_id = conn.execute(nodes.insert().values(
                        tenant_id=self.tenant_id, parent_id=node.id, name=part,
                        name_key=name_key(part, self._ci), kind=DIR, size=0,
                        etag=ns.new_etag(), owner_id=self.principal.user_id, mtime=now,
                        ctime=now)).inserted_primary_key[0]
                    self._touch(conn, node.id, now)
                    node = ns.by_id(conn, self.tenant_id, new_id)  # type: ignore[assignment]
                op.commit_in(conn)
            return _entry(norm, node)

    def delete(self, path: str, *, recursive: bool = False, kind: str | None = None) -> int:
        """Delete a file, or a folder (with its content if ``recursive``); returns nodes
        removed. ``kind`` ("file" or "dir") refuses the other kind (SFTP remove/rmdir),
        checked after the permission, so it cannot tell a hidden path's kind."""
        with self._op("delete", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            if not parts:
                raise PermissionDenied("the root folder cannot be deleted")
            self._require("delete", norm)
            with self._write_tx() as conn:
                node = self._resolve(conn, parts)
                if kind is not None and kind != node.kind:
                    raise IsADirectory(f"{norm} is a folder") if node.is_dir else \
                        NotADirectory(f"{norm} is a file, not a folder")
                authz.require_subtree(conn, self.principal, "delete", norm, node)
                self._check_unlocked(conn, parts, membership=True, subtree=node.is_dir)
                if node.is_dir:
                    if not recursive and ns.has_children(conn, self.tenant_id, node.id):
                        raise DirectoryNotEmpty(f"{norm} is not empty")
                    tree = ns.subtree(conn, self.tenant_id, node.id)
                else:
                    tree = [node]
                dead_blobs = self._remove_tree(conn, node, tree)
                self._touch(conn, node.parent_id, datetime.now(UTC))  # type: ignore[arg-type]
                op.event.bytes = sum(n.size for n in tree if n.kind == FILE)
                op.commit_in(conn)
            for blob_id in dead_blobs:
                self.core.store.delete(blob_id)
            return len(tree)

    def _remove_tree(self, conn: Connection, top: Node, tree: list[Node]) -> list[str]:
        """Delete ``top`` and its descendants, release usage and unreferenced blobs."""
        deltas = {owner: [-b, -f] for owner, (b, f) in ns.usage_by_owner(tree).items()}
        for n in reversed(tree):  # children first
            conn.execute(delete(nodes).where(nodes.c.tenant_id == self.tenant_id,
                                             nodes.c.id == n.id))
        if deltas:
            self._charge(conn, deltas)
        dead = []
        for blob_id in {n.blob_id for n in tree if n.blob_id}:
            if self._release_blob(conn, blob_id):
                dead.append(blob_id)
        return dead

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> Entry:
        """Rename/move a file or a whole folder in one transaction."""
        with self._op("move", src, dst) as op:
            sparts, snorm = self._parts(src)
            dparts, dnorm = self._parts(dst)
            op.event.path, op.event.dest_path = snorm, dnorm
            if not sparts or not dparts:
                raise InvalidMove("the root folder cannot be moved or replaced")
            self._require("rename", snorm)
            self._require("rename", dnorm)
            self._require("write", dnorm)
            dead: list[str] = []
            with self._write_tx() as conn:
                node = self._resolve(conn, sparts)
                parent, existing = self._resolve_parent(conn, dparts)
                if ns.is_descendant(conn, self.tenant_id, parent.id, node.id):
                    raise InvalidMove("a folder cannot be moved into itself")
                authz.require_subtree(conn, self.principal, "rename", snorm, node)
                authz.require_subtree(conn, self.principal, "write", dnorm, node)
                self._check_unlocked(conn, sparts, membership=True, subtree=node.is_dir)
                self._check_unlocked(conn, dparts, membership=True,
                                     subtree=existing is not None and existing.is_dir)
                if existing is not None and existing.id != node.id:
                    if not overwrite:
                        raise AlreadyExists(f"{dnorm} already exists")
                    authz.require_subtree(conn, self.principal, "delete", dnorm, existing)
                    tree = ns.subtree(conn, self.tenant_id, existing.id) if existing.is_dir \
                        else [existing]
                    dead = self._remove_tree(conn, existing, tree)
                now = datetime.now(UTC)
                conn.execute(update(nodes).where(nodes.c.id == node.id).values(
                    parent_id=parent.id, name=dparts[-1],
                    name_key=name_key(dparts[-1], self._ci), ctime=now))
                self._touch(conn, parent.id, now)
                if node.parent_id != parent.id:
                    self._touch(conn, node.parent_id, now)  # type: ignore[arg-type]
                op.commit_in(conn)
                moved = ns.by_id(conn, self.tenant_id, node.id)
            for blob_id in dead:
                self.core.store.delete(blob_id)
            assert moved is not None
            return _entry(dnorm, moved)

    def copy(self, src: str, dst: str, *, overwrite: bool = False,
             recursive: bool = True) -> Entry:
        """Copy a file or folder. Content blobs are shared (immutable), so this is O(nodes)."""
        with self._op("copy", src, dst) as op:
            sparts, snorm = self._parts(src)
            dparts, dnorm = self._parts(dst)
            op.event.path, op.event.dest_path = snorm, dnorm
            if not dparts:
                raise InvalidMove("the root folder cannot be replaced")
            self._require("read", snorm)
            self._require("write", dnorm)
            dead: list[str] = []
            with self._write_tx() as conn:
                node = self._resolve(conn, sparts)
                parent, existing = self._resolve_parent(conn, dparts)
                if node.is_dir and ns.is_descendant(conn, self.tenant_id, parent.id, node.id):
                    raise InvalidMove("a folder cannot be copied into itself")
                if recursive:
                    authz.require_subtree(conn, self.principal, "read", snorm, node)
                    authz.require_subtree(conn, self.principal, "write", dnorm, node)
                self._check_unlocked(conn, dparts, membership=True,
                                     subtree=existing is not None and existing.is_dir)
                if existing is not None:
                    if existing.id == node.id:
                        raise InvalidMove("source and destination are the same")
                    if not overwrite:
                        raise AlreadyExists(f"{dnorm} already exists")
                    authz.require_subtree(conn, self.principal, "delete", dnorm, existing)
                    tree = ns.subtree(conn, self.tenant_id, existing.id) if existing.is_dir \
                        else [existing]
                    dead = self._remove_tree(conn, existing, tree)
                source = ns.subtree(conn, self.tenant_id, node.id) if node.is_dir and recursive \
                    else [node]
                new_top = self._clone(conn, source, parent.id, dparts[-1])
                op.event.bytes = sum(n.size for n in source if n.kind == FILE)
                op.commit_in(conn)
                copied = ns.by_id(conn, self.tenant_id, new_top)
            for blob_id in dead:
                self.core.store.delete(blob_id)
            assert copied is not None
            return _entry(dnorm, copied)

    def _clone(self, conn: Connection, source: list[Node], parent_id: int, name: str) -> int:
        now = datetime.now(UTC)
        mine = self.principal.user_id
        b, f = sum(n.size for n in source if n.kind == FILE), sum(n.kind == FILE for n in source)
        self._charge(conn, {mine: [b, f]})
        id_map: dict[int, int] = {}
        for i, n in enumerate(source):  # parents come before children
            top = i == 0
            new_id = conn.execute(nodes.insert().values(
                tenant_id=self.tenant_id, parent_id=parent_id if top else id_map[n.parent_id],
                name=name if top else n.name,
                name_key=name_key(name if top else n.name, self._ci), kind=n.kind,
                size=n.size, blob_id=n.blob_id, content_mac=n.content_mac, etag=ns.new_etag(),
                owner_id=mine, mtime=n.mtime, ctime=now)).inserted_primary_key[0]
            id_map[n.id] = new_id
        from gateway.catalog import properties

        properties.copy_nodes(conn, self.tenant_id, id_map)  # a copy keeps dead properties
        self._touch(conn, parent_id, now)
        return id_map[source[0].id]

    def set_mtime(self, path: str, mtime: datetime) -> Entry:
        with self._op("setattr", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require("write", norm)
            with self._write_tx() as conn:
                node = self._resolve(conn, parts)
                self._check_unlocked(conn, parts)
                conn.execute(update(nodes).where(nodes.c.id == node.id).values(
                    mtime=mtime.astimezone(UTC), etag=ns.new_etag()))
                op.commit_in(conn)
                node = ns.by_id(conn, self.tenant_id, node.id)  # type: ignore[assignment]
            return _entry(norm, node)

    def truncate(self, path: str, size: int) -> Entry:
        """Set a file's length (a new version, committed atomically)."""
        with self.open_write(path, truncate=False, must_exist=True) as writer:
            writer.truncate(size)
        return self.stat_quiet(path)

    # --- dead properties (WebDAV PROPPATCH/PROPFIND; stored in ``dav_props``) ------------
    def get_props(self, path: str) -> dict[str, str]:
        """A node's dead properties. Not audited: it describes a stat/list just audited."""
        from gateway.catalog import properties

        parts, norm = self._parts(path)
        self._require_seen(norm)
        with self.core.catalog.read() as conn:
            node = self._resolve(conn, parts)
            return properties.of_node(conn, self.tenant_id, node.id)

    def child_props(self, path: str) -> dict[str, dict[str, str]]:
        """Dead properties of a folder's children (those that have any), by child name."""
        from gateway.catalog import properties

        parts, norm = self._parts(path)
        if not self.principal.may_traverse(norm):
            self._require("list", norm)
        with self.core.catalog.read() as conn:
            node = self._resolve(conn, parts)
            return properties.of_children(conn, self.tenant_id, node.id)

    def set_props(self, path: str, changes: dict[str, str | None]) -> None:
        """Set (value) or remove (None) dead properties in one transaction; audited."""
        from gateway.catalog import properties
        from gateway.errors import InvalidName

        with self._op("proppatch", path) as op:
            parts, norm = self._parts(path)
            op.event.path = norm
            self._require("write", norm)
            for name, value in changes.items():
                if not name or len(name) > properties.MAX_NAME_CHARS or (
                        value is not None and len(value) > properties.MAX_VALUE_CHARS):
                    raise InvalidName("property name or value too long")
            with self._write_tx() as conn:
                node = self._resolve(conn, parts)
                self._check_unlocked(conn, parts)
                properties.apply(conn, self.tenant_id, node.id, changes)
                op.commit_in(conn)


class FileReader:
    """A read handle over a byte range of one file version (immutable while open)."""

    def __init__(self, session: Session, op: _Op, entry: Entry, reader: BlobReader | None,
                 offset: int, length: int | None) -> None:
        self.session = session
        self.entry = entry
        self._op = op
        self._reader = reader
        self.size = reader.size if reader is not None else 0
        self.start = min(max(offset, 0), self.size)
        self.end = self.size if length is None else min(self.size, self.start + max(length, 0))
        self.position = self.start
        self.sent = 0
        self.closed = False

    def pread(self, offset: int, length: int) -> bytes:
        """Read at an absolute offset (SFTP style), bounded by the handle's range."""
        if self._reader is None or offset >= self.end:
            return b""
        data = self._reader.read(offset, min(length, self.end - offset))
        self.sent += len(data)
        return data

    def read(self, n: int = -1) -> bytes:
        remaining = self.end - self.position
        n = remaining if n < 0 else min(n, remaining)
        data = self.pread(self.position, n) if n > 0 else b""
        self.position += len(data)
        return data

    def readinto(self, buf: memoryview | bytearray) -> int:
        view = memoryview(buf)[: max(0, self.end - self.position)]
        if self._reader is None or not len(view):
            return 0
        n = self._reader.readinto(self.position, view)
        self.position += n
        self.sent += n
        return n

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def iter_chunks(self, chunk: int = 262144) -> Iterator[bytes]:
        while True:
            data = self.read(chunk)
            if not data:
                return
            yield data

    def seek(self, position: int) -> None:
        self.position = min(max(position, 0), self.end)

    def close(self, error: BaseException | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        if self._reader is not None:
            self._reader.close()
        ev = self._op.event
        ev.bytes = self.sent
        if error is not None:
            self.session._record_failure(ev, self._op.started, error)
            return
        whole = self.start == 0 and self.position >= self.size
        ev.sha256 = self.entry.content_mac if whole else None
        ev.duration_ms = int((time.monotonic() - self._op.started) * 1000)
        self.session.core.audit.record(ev)

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close(exc)
