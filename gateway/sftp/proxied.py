"""The SFTP listener behind a load balancer: PROXY v1/v2 before the SSH version exchange.

With ``[sftp] proxy_protocol = true`` the worker accepts connections itself instead of
``asyncssh.listen``: a connection from an address outside ``proxy_trusted`` is closed at
once; a trusted one must send a PROXY header within ``HEADER_TIMEOUT_S`` (read without
going past it), then the socket is handed to ``asyncssh.run_server``. The header's
source address is what ``GatewaySSHServer`` sees as the client (``real_address``): the
Gate's network rules, the defender and the audit log get the real client, not the
load balancer. Refusals are logged (a warning at most once a minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from typing import Any

import asyncssh

from gateway.proxyproto import BadProxyHeader, HeaderReader, ProxyHeader, networks, trusted

log = logging.getLogger("gateway.sftp")
HEADER_TIMEOUT_S = 10.0
BACKLOG = 128
#: (load balancer address, port) of a connection -> the real client's address
_REAL: dict[tuple[str, int], str] = {}
_warned_at = 0.0


def real_address(peer: Any) -> str:
    """The client of a connection whose socket peer is ``peer`` (``peername``)."""
    if not peer:
        return ""
    return _REAL.get((str(peer[0]), int(peer[1])), str(peer[0]))


def _warn(message: str) -> None:
    global _warned_at
    now = time.monotonic()
    if now - _warned_at >= 60:
        _warned_at = now
        log.warning("sftp: %s", message)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def read_header(sock: socket.socket) -> ProxyHeader:
    """The PROXY header at the start of non-blocking ``sock`` (no deadline: the caller's)."""
    reader = HeaderReader(sock)
    loop = asyncio.get_running_loop()
    while (header := reader.step()) is None:
        ready = loop.create_future()
        loop.add_reader(sock.fileno(), _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(sock.fileno())
    return header


class ProxiedAcceptor:
    """Accepts, reads the PROXY header, hands the socket to asyncssh."""

    def __init__(self, sock: socket.socket, options: asyncssh.SSHServerConnectionOptions,
                 trusted_nets: list[str]) -> None:
        self.sock, self.options = sock, options
        self.trusted = networks(trusted_nets)
        self.tasks: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(self.sock)
            except OSError as exc:  # out of descriptors: do not spin
                _warn(f"cannot accept connections: {exc.strerror or exc}")
                await asyncio.sleep(0.05)
                continue
            task = asyncio.create_task(self.handle(conn, addr))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def handle(self, sock: socket.socket, addr: Any) -> None:
        peer = (str(addr[0]), int(addr[1]))
        if not trusted(peer[0], self.trusted):
            _warn(f"refused a connection from {peer[0]}: not in sftp.proxy_trusted "
                  "(sftp.proxy_protocol is on)")
            sock.close()
            return
        try:
            sock.setblocking(False)
            header = await asyncio.wait_for(read_header(sock), HEADER_TIMEOUT_S)
        except (TimeoutError, BadProxyHeader, OSError) as exc:
            _warn(f"refused a connection from load balancer {peer[0]}: "
                  f"{exc or 'no PROXY header in time'}")
            sock.close()
            return
        if header.source:
            _REAL[peer] = header.source
        try:
            await asyncssh.run_server(sock, options=self.options)
        except (TimeoutError, OSError, asyncssh.Error):
            pass  # the connection is gone; asyncssh and the gateway logged/audited it
        except Exception:  # a fire-and-forget task: never an unretrieved exception
            log.exception("sftp: connection from %s failed", header.source or peer[0])
        finally:
            _REAL.pop(peer, None)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(OSError):
            self.sock.close()

    async def wait_closed(self) -> None:
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def listener_for(section: Any) -> Any:
    """``asyncssh.listen``, or ``listen`` below when ``[sftp] proxy_protocol`` is on."""
    if not section.proxy_protocol:
        return asyncssh.listen
    return functools.partial(listen, trusted_nets=section.proxy_trusted)


async def listen(host: str, port: int, *, trusted_nets: list[str],
                 reuse_port: bool = True, reuse_address: bool = True,
                 **options: Any) -> ProxiedAcceptor:
    """Like ``asyncssh.listen(host, port, reuse_port=True, **options)``, PROXY first."""
    opts = await asyncssh.SSHServerConnectionOptions.construct(**options)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    acceptor = ProxiedAcceptor(sock, opts, trusted_nets)
    acceptor.task = asyncio.create_task(acceptor.run())
    return acceptor
