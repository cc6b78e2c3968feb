"""The WebDAV listener behind a load balancer: PROXY v1/v2 before TLS.

With ``[webdav] proxy_protocol = true`` a connection is admitted only from an address in
``proxy_trusted``; it must first send a PROXY header (within ``handshake_timeout_s``,
collected by the selector thread without blocking and without reading past it). The
header's source address then replaces the socket's peer everywhere: ``REMOTE_ADDR`` (so
the Gate's network rules, the defender and the audit log), and the per-address
connection cap. Anything else (an untrusted peer, with or without a header; a trusted
peer without a valid header) is closed before TLS, with a warning at most once a minute.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from typing import Any

from gateway.proxyproto import BadProxyHeader, HeaderReader, networks, trusted
from gateway.webdav import listener
from gateway.webdav.listener import CLOSED, Limits, Listener

PROXY = "proxy"


class PendingProxy:
    """An accepted connection whose PROXY header has not arrived yet."""

    def __init__(self, sock: socket.socket, addr: Any, deadline: float) -> None:
        self.sock, self.addr, self.deadline = sock, addr, deadline
        self.reader = HeaderReader(sock)
        self.phase = PROXY
        self.registered = False

    def close(self) -> None:  # what cheroot calls on every tracked connection at stop
        self.phase = CLOSED
        with contextlib.suppress(OSError):
            self.sock.close()


class ProxiedListener(Listener):
    """``Listener`` that first reads the load balancer's PROXY header."""

    def __init__(self, server: Any, limits: Limits, trusted_nets: list[str]) -> None:
        super().__init__(server, limits)
        self.trusted = networks(trusted_nets)

    def _admit(self, sock: socket.socket, addr: Any) -> None:
        peer = addr[0] if isinstance(addr, tuple) else ""
        if not trusted(peer, self.trusted):
            self._warn(f"refused a connection from {peer}: not in webdav.proxy_trusted "
                       "(webdav.proxy_protocol is on)")
            sock.close()
            return
        try:
            sock.setblocking(False)
        except OSError:
            sock.close()
            return
        pending = PendingProxy(sock, addr, time.monotonic() + self.limits.handshake_timeout_s)
        self._step(pending)

    def _step(self, pending: PendingProxy) -> None:
        try:
            header = pending.reader.step()
        except (BadProxyHeader, OSError) as exc:
            self._warn(f"refused a connection from load balancer {pending.addr[0]}: {exc}")
            self._drop(pending)  # type: ignore[arg-type]
            return
        if header is None:
            if not pending.registered:
                pending.registered = True
                self._selector.register(pending.sock.fileno(), selectors.EVENT_READ,
                                        data=pending)
            return
        self._forget(pending)
        real = (header.source, header.source_port) if header.source else pending.addr
        super()._admit(pending.sock, real)

    def _forget(self, pending: PendingProxy) -> None:
        if pending.registered:
            pending.registered = False
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(pending.sock.fileno())

    def _advance(self, conn: Any) -> None:
        if isinstance(conn, PendingProxy):
            self._step(conn)
        else:
            super()._advance(conn)

    def _drop(self, conn: Any) -> None:
        if isinstance(conn, PendingProxy):
            self._forget(conn)
            conn.close()
        else:
            super()._drop(conn)


def install(server: Any, limits: Limits, trusted_nets: list[str]) -> None:
    """Like ``listener.install``, with the PROXY header read first."""
    old = server._connections
    server._connections = ProxiedListener(server, limits, trusted_nets)
    old._selector.close()
    server.max_request_header_size = limits.max_header_bytes + 1024


def install_listener(server: Any, limits: Limits, section: Any) -> None:
    """The listener ``[webdav]`` asks for: gated, and PROXY-reading when configured."""
    if section.proxy_protocol:
        install(server, limits, section.proxy_trusted)
    else:
        listener.install(server, limits)
