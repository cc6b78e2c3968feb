"""The SFTP file operations: asyncssh ``SFTPServer`` methods translated to ``Session`` calls.

One instance per SFTP (or legacy SCP) channel, holding one ``Session``. Paths are
client bytes relative to the tenant root (the client's home is ``/``). Core calls run
in the worker's thread pool; asyncssh accepts the awaitables returned here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import posixpath
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncssh
from asyncssh import SFTPAttrs, SFTPName, SFTPVFSAttrs
from asyncssh.sftp import (
    FXF_APPEND,
    FXF_CREAT,
    FXF_EXCL,
    FXF_READ,
    FXF_TRUNC,
    FXF_WRITE,
)

from gateway import errors
from gateway.config import Config
from gateway.principal import Principal
from gateway.session import Entry, Session
from gateway.sftp.errors import failure, log, to_sftp, unsupported
from gateway.sftp.handles import ReadHandle, WriteHandle, from_timestamp
from gateway.sftp.limits import ConnectionLimits, limits_of
from gateway.sftp.listing import (
    DIR_MODE,
    FILE_MODE,
    READONLY_FILE_MODE,
    LongNames,
    WireName,
    attrs_of,
)

UNLIMITED = 1 << 50  # statvfs size reported when there is no quota
BLOCK = 4096
LIST_BATCH = 1000
FIRST_LIST_BATCH = 200  # a quick first answer, then larger pages

Handle = ReadHandle | WriteHandle
def client_path(raw: bytes) -> str:
    """Client path bytes -> absolute tenant path (``.``/``..`` resolved, root clamped)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise failure("invalid name: not UTF-8") from None
    if "\x00" in text:
        raise failure("invalid name")
    return posixpath.normpath("/" + text.lstrip("/"))


def _guard(func):  # type: ignore[no-untyped-def]
    """Turn core errors raised by an async method into SFTP status errors."""

    @functools.wraps(func)
    async def wrapper(self: GatewaySFTPServer, *args: Any) -> Any:
        try:
            return await func(self, *args)
        except asyncssh.SFTPError:
            raise
        except (errors.GatewayError, OSError, ValueError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, errors.GatewayError):
                # never a host path in a client message: strerror only, details in the log
                if exc.filename is not None:
                    log.warning("sftp: %s", exc)
                raise failure(exc.strerror or (str(exc) if exc.filename is None else "")
                              or "failure") from None
            raise to_sftp(exc) from None

    return wrapper


class GatewaySFTPServer(asyncssh.SFTPServer):
    """SFTP requests of one channel -> one ``Session``."""

    def __init__(self, chan: asyncssh.SSHServerChannel, session: Session,
                 executor: Any, config: Config, *, send_exit_status: bool = True) -> None:
        super().__init__(chan)
        self.session = session
        self.principal: Principal = session.principal
        loop = asyncio.get_running_loop()
        self._run = lambda fn, *a, **kw: loop.run_in_executor(
            executor, functools.partial(fn, *a, **kw))
        self._send_exit_status = send_exit_status
        self._exited = False
        # files being written in this session: POSIX clients (sshfs) stat a file right
        # after creating it, before the new version is committed on close
        self._writing: dict[str, WriteHandle] = {}
        self._long_names = LongNames(self.principal.user_name, self.principal.tenant_name)
        # open handles and buffered bytes are limited per SSH connection, not per channel
        conn = chan.get_connection()
        self.limits: ConnectionLimits = limits_of(conn, config) \
            if isinstance(conn, asyncssh.SSHServerConnection) \
            else ConnectionLimits.from_config(config)

    # --- presentation -----------------------------------------------------------------
    def format_user(self, uid: int | None) -> str:
        return self.principal.user_name

    def format_group(self, gid: int | None) -> str:
        return self.principal.tenant_name

    def _mode(self, entry: Entry) -> int:
        if entry.is_dir:
            return DIR_MODE
        return FILE_MODE if self.session.may("write", entry.path) else READONLY_FILE_MODE

    def _attrs(self, entry: Entry) -> SFTPAttrs:
        return attrs_of(self._mode(entry), entry.size, int(entry.mtime.timestamp()))

    def _name(self, entry: Entry, filename: bytes | None = None) -> WireName:
        if filename is None:
            filename = entry.name.encode("utf-8")
        mode, size, mtime = self._mode(entry), entry.size, int(entry.mtime.timestamp())
        return WireName(filename, self._long_names.prefix(mode, size, mtime) + filename, mode,
                        size, mtime)

    # --- paths -------------------------------------------------------------------------
    def map_path(self, path: bytes) -> bytes:
        return path

    @_guard
    async def realpath(self, path: bytes) -> bytes:
        return client_path(path).encode("utf-8")

    @_guard
    async def stat(self, path: bytes) -> SFTPAttrs:
        norm = client_path(path)
        handle = self._writing.get(norm)
        if handle is not None:
            return self._pending_attrs(handle)
        return self._attrs(await self._run(self.session.stat, norm))

    def _pending_attrs(self, handle: WriteHandle) -> SFTPAttrs:
        mtime = int(handle.mtime.timestamp() if handle.mtime else time.time())
        return SFTPAttrs(type=asyncssh.FILEXFER_TYPE_REGULAR, size=handle.size, uid=0, gid=0,
                         permissions=FILE_MODE, atime=mtime, mtime=mtime, nlink=1)

    lstat = stat

    # --- directories -------------------------------------------------------------------
    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName | WireName]:
        norm = client_path(path)
        try:
            it = await self._run(self.session.list, norm)
            here = await self._run(self.session.stat_quiet, norm)
        except errors.GatewayError as exc:
            raise to_sftp(exc) from None
        for dot in (b".", b".."):
            yield self._name(here, dot)

        def batch(n: int) -> list[Entry]:
            return [e for _, e in zip(range(n), it, strict=False)]

        # the next page is read from the catalog (thread pool) while this one is sent
        size = FIRST_LIST_BATCH
        pending = asyncio.ensure_future(self._run(batch, size))
        while True:
            try:
                entries = await pending
            except errors.GatewayError as exc:
                raise to_sftp(exc) from None
            more = len(entries) == size
            if more:
                size = LIST_BATCH
                pending = asyncio.ensure_future(self._run(batch, size))
            for entry in entries:
                yield self._name(entry)
            if not more:
                return

    @_guard
    async def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        await self._run(self.session.mkdir, client_path(path))

    @_guard
    async def rmdir(self, path: bytes) -> None:
        await self._run(self.session.delete, client_path(path), kind="dir")

    @_guard
    async def remove(self, path: bytes) -> None:
        await self._run(self.session.delete, client_path(path), kind="file")

    @_guard
    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._run(self.session.move, client_path(oldpath), client_path(newpath),
                        overwrite=False)

    @_guard
    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._run(self.session.move, client_path(oldpath), client_path(newpath),
                        overwrite=True)

    async def readlink(self, path: bytes) -> bytes:
        raise unsupported("symbolic links are")

    async def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise unsupported("symbolic links are")

    async def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise unsupported("hard links are")

    # --- attributes --------------------------------------------------------------------
    @_guard
    async def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Size and mtime are applied; permissions/owner/atime are accepted and ignored."""
        norm = client_path(path)
        handle = self._writing.get(norm)
        if handle is not None:
            await self.fsetstat(handle, attrs)
            return
        if attrs.size is not None:
            await self._run(self.session.truncate, norm, attrs.size)
        if attrs.mtime is not None:
            await self._run(self.session.set_mtime, norm, from_timestamp(attrs.mtime))
        if attrs.size is None and attrs.mtime is None:
            await self._run(self.session.stat, norm)  # still refuse a missing file

    lsetstat = setstat

    @_guard
    async def fstat(self, file_obj: Handle) -> SFTPAttrs:
        if isinstance(file_obj, ReadHandle):
            return self._attrs(file_obj.reader.entry)
        return self._pending_attrs(file_obj)

    @_guard
    async def fsetstat(self, file_obj: Handle, attrs: SFTPAttrs) -> None:
        if isinstance(file_obj, ReadHandle):
            if attrs.size is not None:
                raise asyncssh.SFTPPermissionDenied("file not opened for writing")
            if attrs.mtime is not None:
                await self._run(self.session.set_mtime, file_obj.path,
                                from_timestamp(attrs.mtime))
            return
        if attrs.size is not None and attrs.size != file_obj.size:
            await file_obj.truncate(attrs.size)
        if attrs.mtime is not None:
            file_obj.mtime = from_timestamp(attrs.mtime)  # applied after the commit

    @_guard
    async def statvfs(self, path: bytes) -> SFTPVFSAttrs:
        usage = await self._run(self.session.usage)
        total = usage.quota_bytes if usage.quota_bytes is not None \
            else usage.used_bytes + UNLIMITED
        free = max(0, total - usage.used_bytes)
        files = usage.quota_files if usage.quota_files is not None else 0
        ffree = max(0, files - usage.used_files) if usage.quota_files is not None else 0
        return SFTPVFSAttrs(bsize=BLOCK, frsize=BLOCK, blocks=total // BLOCK,
                            bfree=free // BLOCK, bavail=free // BLOCK, files=files,
                            ffree=ffree, favail=ffree, fsid=0, flags=0, namemax=255)

    async def fstatvfs(self, file_obj: Handle) -> SFTPVFSAttrs:
        return await self.statvfs(b"/")

    # --- files -------------------------------------------------------------------------
    @_guard
    async def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> Handle:
        norm = client_path(path)
        if not self.limits.open_handle():
            raise await self.handle_refused("open", norm)
        try:
            if not pflags & (FXF_WRITE | FXF_APPEND):
                reader = await self._run(self.session.open_read, norm)
                return ReadHandle(self._run, reader, self.limits.memory)
            return await self._open_write(norm, pflags)
        except BaseException:
            self.limits.close_handle()
            raise

    async def handle_refused(self, action: str, norm: str) -> asyncssh.SFTPError:
        """Audit a refused open/opendir (handle limit); the error to send."""
        limit = self.limits.max_handles
        await self._run(self.session.record, action, path=norm, result="denied",
                        reason=f"handle limit: {limit} open files per connection")
        return failure(f"too many open files (limit {limit} per connection)")

    async def _open_write(self, norm: str, pflags: int) -> WriteHandle:
        create, truncate = bool(pflags & FXF_CREAT), bool(pflags & FXF_TRUNC)
        exclusive = create and bool(pflags & FXF_EXCL)
        writer = None
        base_size = 0
        if truncate:  # the common upload: one core call, which checks and audits refusals
            writer = await self._run(self.session.open_write, norm, truncate=True,
                                     exclusive=exclusive, must_exist=not create,
                                     read_usage=True)
        else:  # keep the content: open the core writer only when something changes
            if not self.session.may("write", norm):  # refused and audited by the core
                await self._run(self.session.may, "write", norm, audit_as="write")
            try:
                existing: Entry | None = await self._run(self.session.stat_quiet, norm)
            except errors.NotFound:
                existing = None
            if existing is not None and existing.is_dir:
                raise errors.IsADirectory(f"{norm} is a folder")
            if existing is None:
                if not create:
                    raise errors.NotFound(f"{norm} does not exist")
                writer = await self._run(self.session.open_write, norm, truncate=True,
                                         exclusive=exclusive, read_usage=True)
            elif exclusive:
                raise errors.AlreadyExists(f"{norm} already exists")
            else:
                base_size = existing.size
        handle = WriteHandle(self._run, self.session, norm, truncate=truncate,
                             append=bool(pflags & FXF_APPEND), writer=writer,
                             base_size=base_size, readable=bool(pflags & FXF_READ),
                             memory=self.limits.memory)
        self._writing[norm] = handle
        return handle

    def _forget(self, file_obj: Handle) -> None:
        self.limits.close_handle()
        if isinstance(file_obj, WriteHandle) and self._writing.get(file_obj.path) is file_obj:
            del self._writing[file_obj.path]

    @_guard
    async def read(self, file_obj: Handle, offset: int, size: int) -> bytes:
        return await file_obj.read(offset, size)

    @_guard
    async def write(self, file_obj: Handle, offset: int, data: bytes) -> int:
        if isinstance(file_obj, ReadHandle):
            raise asyncssh.SFTPPermissionDenied("file not opened for writing")
        await file_obj.write(offset, data)
        return len(data)

    @_guard
    async def fsync(self, file_obj: Handle) -> None:
        if isinstance(file_obj, WriteHandle):
            await file_obj.flush()

    async def close(self, file_obj: Handle) -> None:
        if self._exited:  # client gone or session ending with the handle open: abort
            await self._abort(file_obj)
            return
        self._forget(file_obj)
        try:
            await file_obj.close()
        except asyncssh.SFTPError:
            raise
        except Exception as exc:
            raise to_sftp(exc) from None

    async def _abort(self, file_obj: Handle) -> None:
        self._forget(file_obj)
        try:
            if isinstance(file_obj, ReadHandle):
                await file_obj.close(ConnectionResetError("session ended"))
            else:
                await file_obj.abort("session ended before the file was closed")
        except Exception as exc:  # never let cleanup fail the session teardown
            to_sftp(exc)

    def begin_exit(self) -> None:
        """Called before asyncssh closes the handles left open: they must be aborted."""
        self._exited = True

    def exit(self) -> None:
        """End of the SFTP session: send an exit-status (OpenSSH ``scp`` needs one)."""
        self._exited = True
        if self._send_exit_status:
            with contextlib.suppress(Exception):  # the channel may already be gone
                self.channel.exit(0)
