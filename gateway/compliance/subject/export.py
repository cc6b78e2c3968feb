"""Art. 15 / 20 export: one ZIP with the subject's files, account data and events.

Members: ``files/<path>`` (each file decrypted through the core's read path: a Session of
the tenant's administrator, so every read is checked and audited like any other),
``account.json``, ``events.json`` and ``events.csv``, and last ``manifest.json``: the
SHA-256, size and meaning of every other member. Everything is streamed: each member is
written chunk by chunk through ``ZipFile.open(name, "w", force_zip64=True)`` and hashed on
the way (a file is deflated only if its start compresses: ``compresses``), so memory
stays bounded whatever the size of the export (ZIP64 past 4 GiB). The
archive is written beside ``out`` under a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from gateway import actor
from gateway.audit import AuditEvent
from gateway.compliance.subject.account import account_data
from gateway.compliance.subject.events import EVENT_COLUMNS, iter_events
from gateway.compliance.subject.scope import Criteria, Scope, resolve
from gateway.errors import AlreadyExists
from gateway.principal import DEFAULT_RULES, Principal
from gateway.textout import to_jsonable

if TYPE_CHECKING:
    from gateway.core import Core
    from gateway.session import Session

CHUNK = 1 << 20
SAMPLE = 64 * 1024  # bytes of a file's start that decide whether it is deflated
#: who the export's reads are audited as (the tenant's administrator, as in admin events)
ADMIN = "admin"


@dataclass
class ExportResult:
    out: str
    files: int
    events: int
    file_bytes: int
    archive_bytes: int
    members: int


class _Hashing(io.RawIOBase):
    """A write-only wrapper that hashes and counts what passes to a ZIP member."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.sha, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


def _info(name: str, deflate: bool = True) -> zipfile.ZipInfo:
    """A member stamped with the time of the export (not 1980), deflated (level 1) or
    stored."""
    info = zipfile.ZipInfo(name, datetime.now(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    info._compresslevel = 1  # (public as compress_level from Python 3.13)
    info.external_attr = 0o600 << 16
    return info


class _Archive:
    """A streamed ZIP64 archive that remembers each member's digest for the manifest."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                                   compresslevel=1, allowZip64=True)
        self.manifest: list[dict[str, Any]] = []

    @contextmanager
    def member(self, name: str, what: str, deflate: bool = True,
               **extra: Any) -> Iterator[_Hashing]:
        with self.zip.open(_info(name, deflate), "w", force_zip64=True) as raw:
            sink = _Hashing(raw)
            yield sink
        self.manifest.append({"name": name, "what": what, "size": sink.size,
                              "sha256": sink.sha.hexdigest(), **extra})

    def close(self) -> None:
        self.zip.close()


def admin_session(core: Core, scope: Scope) -> Session:
    """A Session of the tenant's administrator: full rights, audited as ``admin``."""
    principal = Principal(scope.tenant_id, scope.criteria.tenant, "", ADMIN, "human",
                          scope.case_insensitive, DEFAULT_RULES, auth_method="admin")
    return core.session(principal, "admin", "local")


def export_subject(core: Core, criteria: Criteria, out: Path | str) -> ExportResult:
    """Write the subject's export to ``out`` (refuses to overwrite an existing file)."""
    out = Path(out)
    if out.exists():
        raise AlreadyExists(f"{out} already exists: choose another --out or remove it first")
    scope = resolve(core, criteria)
    part = out.with_name(f".{out.name}.part")
    archive = _Archive(part)
    try:
        nfiles, nbytes = _write_files(core, scope, archive)
        with core.catalog.read() as conn:
            account = account_data(conn, scope.criteria.tenant, scope.user_id)
        with archive.member("account.json", "account data: the account row (no password "
                            "hash), SSH keys, app passwords (no secrets), second factor") as m:
            m.write(json.dumps(to_jsonable(account), indent=2, sort_keys=True,
                               ensure_ascii=False).encode())
        nevents = _write_events(core, scope, archive)
        manifest = {"format": "lumanox-subject-export/1",
                    "created_at": datetime.now(UTC).isoformat(),
                    "subject": scope.criteria.describe(),
                    "counts": {"files": nfiles, "file_bytes": nbytes, "events": nevents,
                               "account": int(account is not None)},
                    "members": archive.manifest}
        with archive.zip.open(_info("manifest.json"), "w", force_zip64=True) as m:
            m.write(json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        archive.close()
        os.replace(part, out)
    except BaseException:
        archive.close()
        part.unlink(missing_ok=True)
        raise
    result = ExportResult(str(out), nfiles, nevents, nbytes, out.stat().st_size,
                          len(archive.manifest) + 1)
    who = actor.current()
    core.audit.write_now([AuditEvent(
        action="subject-export", protocol=who.protocol, chain=scope.tenant_id,
        tenant=scope.criteria.tenant, user=who.user, remote_addr=who.remote_addr,
        bytes=nbytes,
        reason=f"data-subject export: files={nfiles}, events={nevents}, "
               f"account={int(account is not None)}")])
    return result


def _write_files(core: Core, scope: Scope, archive: _Archive) -> tuple[int, int]:
    session = admin_session(core, scope)
    total = exported = 0
    for item in scope.files:
        if item.in_trash:  # no path reaches it: listed in the manifest, content not read
            archive.manifest.append({"name": None, "what": "file in the tenant's trash, not "
                                     "exported: restore it (`trash restore`) to export it",
                                     "path": item.path, "size": item.size})
            continue
        exported += 1
        with session.open_read(item.path) as reader:
            chunk = reader.read(CHUNK)
            with archive.member("files" + item.path, "file", compresses(chunk),
                                path=item.path, owner=item.owner, why=item.why) as m:
                while chunk:
                    m.write(chunk)
                    chunk = reader.read(CHUNK)
                total += m.size
    return exported, total


def compresses(head: bytes) -> bool:
    """Deflate a file only if its first bytes shrink by a tenth at least: most office,
    image and archive formats are compressed already, and deflating them costs time
    for nothing."""
    sample = head[:SAMPLE]
    return len(sample) < 512 or len(zlib.compress(sample, 1)) < 0.9 * len(sample)


def _write_events(core: Core, scope: Scope, archive: _Archive) -> int:
    """events.json (one array, written an event at a time) and events.csv."""
    n = 0
    with archive.member("events.json", "audit events about the subject (JSON array)") as m:
        m.write(b"[")
        for event in iter_events(core, scope):
            m.write((",\n" if n else "\n").encode() + json.dumps(
                to_jsonable(event), sort_keys=True, ensure_ascii=False).encode())
            n += 1
        m.write(b"\n]\n")
    with archive.member("events.csv", "the same audit events (CSV)") as m:
        text = io.TextIOWrapper(m, encoding="utf-8", newline="", write_through=True)
        writer = csv.DictWriter(text, fieldnames=EVENT_COLUMNS)
        writer.writeheader()
        for event in iter_events(core, scope):
            writer.writerow(to_jsonable(event))
        text.detach()
    return n
