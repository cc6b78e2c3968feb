"""Legacy SCP (``scp -O``: ``scp -t`` / ``scp -f``) over the same SFTP file operations.

asyncssh's SCP sink closes (= would commit) a file even when the transfer was cut or a
write failed. Here a received file is committed only when every announced byte arrived,
every write succeeded and the client confirmed the end of the file; otherwise it is
aborted and the previous version stays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asyncssh import SFTPAttrs, SFTPConnectionLost, SFTPError
from asyncssh.scp import _scp_error, _SCPArgParser, _SCPSink, _SCPSource
from asyncssh.sftp import FXF_CREAT, FXF_TRUNC, FXF_WRITE, SFTPServerFS
from asyncssh.stream import SSHReader, SSHWriter

from gateway.sftp.handles import WriteHandle

if TYPE_CHECKING:
    from gateway.sftp.handler import GatewaySFTPServer

BLOCK = 256 * 1024


class SafeSCPSink(_SCPSink):
    """SCP receiver whose files are all-or-nothing."""

    def __init__(self, gateway_server: GatewaySFTPServer, *args: object,
                 **kwargs: object) -> None:
        super().__init__(SFTPServerFS(gateway_server), *args, **kwargs)  # type: ignore[arg-type]
        self._gw = gateway_server

    async def _recv_file(self, srcpath: bytes, dstpath: bytes, size: int) -> None:
        handle = await self._gw.open(dstpath, FXF_WRITE | FXF_CREAT | FXF_TRUNC, SFTPAttrs())
        assert isinstance(handle, WriteHandle)
        local_exc: Exception | None = None
        committed = False
        received = 0
        try:
            self.send_ok()
            while received < size:
                data = await self.recv_data(min(size - received, self._block_size))
                if not data:
                    raise _scp_error(SFTPConnectionLost, "Connection lost", fatal=True,
                                     suppress_send=True)
                if local_exc is None:
                    try:
                        await self._gw.write(handle, received, data)
                    except (OSError, SFTPError) as exc:
                        local_exc = exc
                received += len(data)
            remote_exc = await self.await_response()
            if remote_exc is None and local_exc is None:
                try:
                    await self._gw.close(handle)
                    committed = True
                except (OSError, SFTPError) as exc:
                    local_exc = exc
        finally:
            if not committed:
                await self._gw._abort(handle)
        if local_exc is not None:
            self.send_error(local_exc)
            local_exc.suppress_send = True  # type: ignore[attr-defined]
            raise local_exc
        self.send_ok()
        if remote_exc is not None:
            raise remote_exc


async def run_scp(server: GatewaySFTPServer, command: str, stdin: SSHReader[bytes],
                  stdout: SSHWriter[bytes], stderr: SSHWriter[bytes]) -> None:
    """Serve one ``scp -t`` (upload) or ``scp -f`` (download) command."""
    try:
        args = _SCPArgParser().parse(command)
    except ValueError as exc:
        stderr.write(f"scp: {exc}\n".encode())
        server.channel.exit(1)
        return
    if args.source:
        handler: _SCPSink | _SCPSource = _SCPSource(
            SFTPServerFS(server), stdin, stdout, args.preserve, args.recurse,
            block_size=BLOCK, error_handler=False, server=True)
    else:
        handler = SafeSCPSink(server, stdin, stdout, args.must_be_dir, args.preserve,
                              args.recurse, block_size=BLOCK, error_handler=False,
                              server=True)
    try:
        await handler.run(args.path)
    finally:
        server.begin_exit()
