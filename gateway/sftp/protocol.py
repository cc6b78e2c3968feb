"""Channels: the ``sftp`` subsystem and legacy ``scp -t/-f`` commands, nothing else.

Fixes over asyncssh's stock SFTP server (each covered by a real-client test):

* write requests with trailing bytes after the data are accepted (rclone 1.60 sends
  them; OpenSSH ignores them), instead of failing with "Unexpected data at end of packet";
* read lengths are clamped to the limit advertised in ``limits@openssh.com``;
* handles still open when the session ends are aborted, never committed (a client killed
  mid-upload leaves the previous version);
* an exit-status is sent when the SFTP session ends (OpenSSH ``scp`` exits 1 otherwise);
* hard links and asyncssh's private ``ranges`` extension are not advertised;
* directory handles count against the connection's open-handle limit (``limits.py``)
  like file handles (stock asyncssh keeps any number of them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncssh
from asyncssh.packet import SSHPacket
from asyncssh.sftp import (
    FXP_CLOSE,
    FXP_OPENDIR,
    FXP_READ,
    FXP_WRITE,
    MAX_SFTP_READ_LEN,
    SFTPServerHandler,
)
from asyncssh.stream import SSHReader, SSHServerStreamSession, SSHWriter

from gateway.sftp.handler import client_path
from gateway.sftp.scp import run_scp

if TYPE_CHECKING:
    from gateway.sftp.handler import GatewaySFTPServer

HIDDEN_EXTENSIONS = (b"hardlink@openssh.com", b"ranges@asyncssh.com", b"vendor-id")


class GatewaySFTPHandler(SFTPServerHandler):
    """asyncssh's SFTP v3 server with the fixes listed in the module docstring."""

    _extensions = [e for e in SFTPServerHandler._extensions if e[0] not in HIDDEN_EXTENSIONS]
    _server: GatewaySFTPServer

    async def _cleanup(self, exc: Exception | None) -> None:
        if self._server:
            self._server.begin_exit()
            for _ in self._dir_handles:
                self._server.limits.close_handle()
        await super()._cleanup(exc)

    async def _process_opendir(self, packet: SSHPacket) -> bytes:
        if not self._server.limits.open_handle():
            path = SSHPacket(packet.get_remaining_payload()).get_string()
            try:
                norm = client_path(path)
            except asyncssh.SFTPError:
                norm = "(invalid name)"
            raise await self._server.handle_refused("list", norm)
        try:
            return await super()._process_opendir(packet)
        except BaseException:
            self._server.limits.close_handle()
            raise

    async def _process_close(self, packet: SSHPacket) -> None:
        handle = SSHPacket(packet.get_remaining_payload()).get_string()
        was_dir = handle in self._dir_handles
        await super()._process_close(packet)
        if was_dir:
            self._server.limits.close_handle()

    async def _process_write(self, packet: SSHPacket) -> int:
        handle = packet.get_string()
        offset = packet.get_uint64()
        data = packet.get_string()
        # no packet.check_end(): trailing bytes are ignored, as OpenSSH does
        file_obj = self._file_handles.get(handle)
        if not file_obj:
            raise asyncssh.SFTPInvalidHandle("Invalid file handle")
        return await self._server.write(file_obj, offset, data)

    async def _process_read(self, packet: SSHPacket) -> tuple[bytes, bool]:
        handle = packet.get_string()
        offset = packet.get_uint64()
        length = min(packet.get_uint32(), MAX_SFTP_READ_LEN)
        packet.check_end()
        file_obj = self._file_handles.get(handle)
        if not file_obj:
            raise asyncssh.SFTPInvalidHandle("Invalid file handle")
        data = await self._server.read(file_obj, offset, length)
        if not data:
            raise asyncssh.SFTPEOFError
        return data, False

    _packet_handlers = {**SFTPServerHandler._packet_handlers,
                        FXP_WRITE: _process_write, FXP_READ: _process_read,
                        FXP_OPENDIR: _process_opendir, FXP_CLOSE: _process_close}


SessionMaker = Callable[[asyncssh.SSHServerChannel, str], Awaitable["GatewaySFTPServer"]]


class GatewayChannel(SSHServerStreamSession):
    """One session channel: SFTP subsystem or a legacy scp command, per policy."""

    def __init__(self, make_server: SessionMaker,
                 protocol_allowed: Callable[[str], Awaitable[bool]]) -> None:
        super().__init__(None)
        self._make_server = make_server
        self._allowed = protocol_allowed
        #: called once when the channel closes (frees its per-connection slot)
        self.on_close: Callable[[], None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()
        super().connection_lost(exc)

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        return command.startswith("scp ")

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "sftp"

    def session_started(self) -> None:
        chan: Any = self._chan
        assert chan is not None and self._conn is not None
        chan.set_encoding(None)
        self._encoding = None
        stdin: SSHReader[bytes] = SSHReader(self, chan)
        stdout: SSHWriter[bytes] = SSHWriter(self, chan)
        stderr: SSHWriter[bytes] = SSHWriter(self, chan, asyncssh.EXTENDED_DATA_STDERR)
        if chan.get_subsystem() == "sftp":
            self._conn.create_task(self._run_sftp(chan, stdin, stdout), stdin.logger)
        else:
            self._conn.create_task(self._run_scp(chan, chan.get_command() or "", stdin,
                                                 stdout, stderr), stdin.logger)

    async def _run_sftp(self, chan: asyncssh.SSHServerChannel, stdin: SSHReader[bytes],
                        stdout: SSHWriter[bytes]) -> None:
        if not await self._allowed("sftp"):  # an SSH login of a tenant that allows only scp
            chan.exit(1)
            return
        server = await self._make_server(chan, "sftp")
        await GatewaySFTPHandler(server, stdin, stdout, 3).run()

    async def _run_scp(self, chan: asyncssh.SSHServerChannel, command: str,
                       stdin: SSHReader[bytes], stdout: SSHWriter[bytes],
                       stderr: SSHWriter[bytes]) -> None:
        if not await self._allowed("scp"):
            stderr.write(b"scp: legacy scp (-O) is not allowed for this account; "
                         b"use sftp or scp without -O\n")
            chan.exit(1)
            return
        server = await self._make_server(chan, "scp")
        await run_scp(server, command, stdin, stdout, stderr)
