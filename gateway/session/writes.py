"""Session operations that write file content: open_write (a ``FileWriter``), and the
commit that makes a new version visible.

The writer talks back through ``WriteCommit``, the ``filewriter.WriteTarget`` this part
builds for each open_write: the content store for blobs, ``commit`` (one transaction:
checks again, quota charge, blob row, node row, audit event) and ``fail`` (the audit of a
refused or broken upload). The writer never sees the Session.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gateway import quota
from gateway.catalog import nswrite
from gateway.catalog.namespace import FILE
from gateway.entry import Entry
from gateway.errors import AlreadyExists, IsADirectory, NotFound
from gateway.filewriter import FileWriter
from gateway.session.base import SessionBase
from gateway.writeroom import WriteRoom, check_file_size

if TYPE_CHECKING:
    from gateway.blobio import BlobRecord


class SessionPartWrite(SessionBase):
    """Writes of file content."""

    def open_write(self, path: str, *, truncate: bool = True, exclusive: bool = False,
                   must_exist: bool = False, expected_length: int | None = None,
                   lock_tokens: Collection[str] | None = None,
                   read_usage: bool = False) -> FileWriter:
        """A write handle; the new version is committed by ``close()``.

        ``truncate=False`` keeps the previous content (resume, append, random updates);
        ``exclusive`` fails if the file exists; ``must_exist`` fails if it does not;
        ``expected_length`` makes ``close()`` refuse a body of another length;
        ``lock_tokens``: the WebDAV lock tokens the client presented; a lock is checked
        when the write opens and again inside the commit transaction (one taken by
        someone else while the body was arriving refuses the commit).
        ``read_usage``: read the quota numbers in this transaction, so that the writes
        that follow check their room against them without another read (SFTP).
        """
        started = time.monotonic()
        event = self._event("write", path)
        max_file_bytes = self.core.config.storage.max_file_bytes
        try:
            if self.guard is not None:
                self.guard()
            parts, norm = self._parts(path)
            event.path = norm
            if not parts:
                raise IsADirectory("the root folder cannot be written as a file")
            self._require("write", norm)
            self.content.check_residency()  # data residency: no statement (placement at login)
            facts = self._ahead.of(parts)  # looked up with prepare="write" in this request
            if facts is None or facts.locks is None:
                with self.core.catalog.read() as conn:
                    facts = self._write_facts(conn, parts, parent_row=False,
                                              usage=expected_length is not None or read_usage)
            existing = facts.node
            if existing is not None and existing.is_dir:
                raise IsADirectory(f"{norm} is a folder")
            if existing is not None and exclusive:
                raise AlreadyExists(f"{norm} already exists")
            if existing is None and must_exist:
                raise NotFound(f"{norm} does not exist")
            assert facts.locks is not None
            self._locks.check_in(facts.locks, parts, lock_tokens,  # early
                                 membership=existing is None)
            usage = facts.usage
            if expected_length is not None:  # refused before the body arrives
                check_file_size(max_file_bytes, norm, expected_length)
                old = existing.size if existing is not None and truncate else 0
                assert usage is not None
                quota.check_room(usage, expected_length - old, 0 if existing else 1)
        except BaseException as exc:
            self._record_failure(event, started, exc)
            raise
        room = WriteRoom(max_file_bytes, self.usage, norm,
                         existing.size if existing is not None else 0, usage)
        if existing is not None and not truncate and existing.blob_id is None:
            existing = None
        target = WriteCommit(self, norm, parts, exclusive, lock_tokens)
        return FileWriter(target, norm, existing, truncate=truncate,
                          expected_length=expected_length, room=room)

    def write_file(self, path: str, data: bytes,
                   lock_tokens: Collection[str] | None = None) -> Entry:
        """Write a whole file in one call (tests, CLI, small files)."""
        with self.open_write(path, expected_length=len(data),
                             lock_tokens=lock_tokens) as writer:
            writer.write(data)
        assert writer.entry is not None
        return writer.entry

    def truncate(self, path: str, size: int) -> Entry:
        """Set a file's length (a new version, committed atomically)."""
        with self.open_write(path, truncate=False, must_exist=True) as writer:
            writer.truncate(size)
        return self.stat_quiet(path)


class WriteCommit:
    """The commit side of one open_write (a ``filewriter.WriteTarget``)."""

    def __init__(self, session: SessionBase, path: str, parts: list[str], exclusive: bool,
                 lock_tokens: Collection[str] | None) -> None:
        """``lock_tokens``: checked again against the locks inside the commit."""
        self._session = session
        self.content = session.content
        self.path = path
        self._parts = parts
        self._exclusive = exclusive
        self._lock_tokens = lock_tokens
        self.started = time.monotonic()

    def commit(self, record: BlobRecord, received: int) -> Entry:
        """Switch the catalog to the new blob: one transaction with quota and audit."""
        s, parts = self._session, self._parts
        event = s._event("write", self.path)
        event.bytes, event.sha256 = received, record.content_mac  # a MAC, not a digest
        now = datetime.now(UTC)
        old_blob: str | None = None
        with s._write_tx() as conn:
            parent, existing = s._resolve_parent(conn, parts)
            if existing is not None and existing.is_dir:
                raise IsADirectory(f"{self.path} is a folder")
            if existing is not None and self._exclusive:
                raise AlreadyExists(f"{self.path} already exists")
            s._check_unlocked(conn, parts, self._lock_tokens, membership=existing is None)
            deltas: quota.Deltas = {s.principal.user_id: [record.size, 0]}
            if existing is None:
                deltas[s.principal.user_id][1] = 1
            else:
                s._deletion_policy(conn, parts)  # a held file keeps its content
                old = deltas.setdefault(existing.owner_id, [0, 0])
                old[0] -= existing.size
            s._charge(conn, deltas)
            self.content.insert_row(conn, record, now)
            values = nswrite.content_values(record, s.principal.user_id, now)
            if existing is None:
                node_id = nswrite.insert_file(conn, s.tenant_id, parent.id, parts[-1], s._ci,
                                              values, now)
                name, ctime = parts[-1], now
            else:
                nswrite.update_content(conn, existing.id, values)
                old_blob = self.content.release(conn, existing.blob_id)
                node_id, name, ctime = existing.id, existing.name, existing.ctime
            event.duration_ms = int((time.monotonic() - self.started) * 1000)
            s.core.audit.append(conn, [event])
        if old_blob:
            self.content.delete_stored([old_blob])
        base = self.path.rsplit("/", 1)[0]
        return Entry(f"{base}/{name}", name, FILE, record.size, now, ctime, values["etag"],
                     record.content_mac, node_id)

    def fail(self, exc: BaseException, received: int) -> None:
        """Audit the write as refused or failed."""
        event = self._session._event("write", self.path)
        event.bytes = received
        self._session._record_failure(event, self.started, exc)
