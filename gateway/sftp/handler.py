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
import stat as statmod
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
from gateway.principal import Principal
from gateway.session import Entry, Session
from gateway.sftp.errors import failure, to_sftp, unsupported
from gateway.sftp.handles import ReadHandle, WriteHandle, from_timestamp

FILE_MODE = statmod.S_IFREG | 0o644
READONLY_FILE_MODE = statmod.S_IFREG | 0o444
DIR_MODE = statmod.S_IFDIR | 0o755
UNLIMITED = 1 << 50  # statvfs size reported when there is no quota
BLOCK = 4096
LIST_BATCH = 1000

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
                raise failure(str(exc) or "failure") from None
            raise to_sftp(exc) from None

    return wrapper


class GatewaySFTPServer(asyncssh.SFTPServer):
    """SFTP requests of one channel -> one ``Session``."""

    def __init__(self, chan: asyncssh.SSHServerChannel, session: Session,
                 executor: Any, *, send_exit_status: bool = True) -> None:
        super().__init__(chan)
        self.session = session
        self.principal: Principal = session.principal
        loop = asyncio.get_running_loop()
        self._run = lambda fn, *a, **kw: loop.run_in_executor(
            executor, functools.partial(fn, *a, **kw))
        self._send_exit_status = send_exit_status
        self._exited = False

    # --- presentation -----------------------------------------------------------------
    def format_user(self, uid: int | None) -> str:
        return self.principal.user_name

    def format_group(self, gid: int | None) -> str:
        return self.principal.tenant_name

    def _attrs(self, entry: Entry) -> SFTPAttrs:
        if entry.is_dir:
            mode, ftype = DIR_MODE, asyncssh.FILEXFER_TYPE_DIRECTORY
        else:
            writable = self.principal.allowed("write", entry.path)
            mode = FILE_MODE if writable else READONLY_FILE_MODE
            ftype = asyncssh.FILEXFER_TYPE_REGULAR
        mtime = int(entry.mtime.timestamp())
        return SFTPAttrs(type=ftype, size=entry.size, uid=0, gid=0, permissions=mode,
                         atime=mtime, mtime=mtime, nlink=1)

    def _name(self, entry: Entry) -> SFTPName:
        name = SFTPName(entry.name.encode("utf-8"), attrs=self._attrs(entry))
        self.format_longname(name)
        return name

    # --- paths -------------------------------------------------------------------------
    def map_path(self, path: bytes) -> bytes:
        return path

    @_guard
    async def realpath(self, path: bytes) -> bytes:
        return client_path(path).encode("utf-8")

    @_guard
    async def stat(self, path: bytes) -> SFTPAttrs:
        return self._attrs(await self._run(self.session.stat, client_path(path)))

    lstat = stat

    # --- directories -------------------------------------------------------------------
    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        norm = client_path(path)
        try:
            it = await self._run(self.session.list, norm)
            here = await self._run(self.session.stat_quiet, norm)
        except errors.GatewayError as exc:
            raise to_sftp(exc) from None
        for dot in (b".", b".."):
            name = SFTPName(dot, attrs=self._attrs(here))
            self.format_longname(name)
            yield name

        def batch() -> list[Entry]:
            return [e for _, e in zip(range(LIST_BATCH), it, strict=False)]

        while True:
            try:
                entries = await self._run(batch)
            except errors.GatewayError as exc:
                raise to_sftp(exc) from None
            for entry in entries:
                yield self._name(entry)
            if len(entries) < LIST_BATCH:
                return

    @_guard
    async def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        await self._run(self.session.mkdir, client_path(path))

    @_guard
    async def rmdir(self, path: bytes) -> None:
        norm = client_path(path)
        entry = await self._run(self.session.stat, norm)
        if not entry.is_dir:
            raise failure("not a directory")
        await self._run(self.session.delete, norm)

    @_guard
    async def remove(self, path: bytes) -> None:
        norm = client_path(path)
        entry = await self._run(self.session.stat, norm)
        if entry.is_dir:
            raise failure("is a directory")
        await self._run(self.session.delete, norm)

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
        return SFTPAttrs(type=asyncssh.FILEXFER_TYPE_REGULAR, size=file_obj.size, uid=0,
                         gid=0, permissions=FILE_MODE)

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
        if not pflags & (FXF_WRITE | FXF_APPEND):
            reader = await self._run(self.session.open_read, norm)
            return ReadHandle(self._run, reader)
        return await self._open_write(norm, pflags)

    async def _open_write(self, norm: str, pflags: int) -> WriteHandle:
        create, truncate = bool(pflags & FXF_CREAT), bool(pflags & FXF_TRUNC)
        exclusive = create and bool(pflags & FXF_EXCL)
        try:
            existing: Entry | None = await self._run(self.session.stat, norm)
        except errors.NotFound:
            existing = None
            if not create:
                raise
        if existing is not None and existing.is_dir:
            raise errors.IsADirectory(f"{norm} is a folder")
        if existing is not None and exclusive:
            raise errors.AlreadyExists(f"{norm} already exists")
        writer = None
        if existing is None or truncate:  # the file must exist/be emptied even if unwritten
            writer = await self._run(self.session.open_write, norm, truncate=True,
                                     exclusive=exclusive)
        elif not self.principal.allowed("write", norm):
            raise errors.PermissionDenied(f"no write permission on {norm}")
        return WriteHandle(self._run, self.session, norm, truncate=truncate,
                           append=bool(pflags & FXF_APPEND), writer=writer,
                           base_size=existing.size if existing else 0,
                           readable=bool(pflags & FXF_READ))

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
        try:
            await file_obj.close()
        except asyncssh.SFTPError:
            raise
        except Exception as exc:
            raise to_sftp(exc) from None

    async def _abort(self, file_obj: Handle) -> None:
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
