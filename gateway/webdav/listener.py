"""The front door of the WebDAV listener: no worker thread waits for a slow client.

cheroot does the TLS handshake inside its accept loop (one silent connection stalls every
other one) and hands each new connection to a worker thread that then waits, header line
by header line, for the request head (a handful of slow clients starve all workers). Here
the selector thread does both without blocking: non-blocking handshakes, then the request
head is collected into a per-connection buffer. A worker thread only gets a connection
whose whole head has arrived; it parses it from the buffer and reads the body itself.

Limits, each with a deadline checked several times a second:

* ``handshake_timeout_s``: a TLS handshake not finished in time is dropped;
* ``request_head_timeout_s``: the whole request head, from its first byte (or from the
  handshake), must arrive in time, however slowly it trickles (408, then closed);
* ``keepalive_timeout_s``: an idle keep-alive connection is closed;
* ``max_header_bytes``: a longer head is refused with 431 before anyone parses it;
* ``max_connections_per_address``: more connections from one address are closed at once.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import re
import selectors
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cheroot.connections import ConnectionManager, prevent_socket_inheritance
from cheroot.makefile import MakeFile
from cheroot.server import HTTPConnection, HTTPRequest

log = logging.getLogger("gateway.webdav")

TICK = 0.2  # seconds between deadline sweeps
READ_SIZE = 65536
ACCEPT_BATCH = 64
# After a refusal: read (and drop) what the client still sends, then close. Closing with
# unread bytes would send a reset, which can destroy the answer before the client reads
# it; the time bound is what limits the cost, the byte bound only caps a fast sender.
DRAIN_SECONDS = 2.0
DRAIN_BYTES = 64 << 20
HEAD_END = re.compile(rb"\n\r?\n")
OUT_OF_FILES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

PLAIN_HTTP_TEXT = b"This port speaks HTTPS only: use an https:// URL.\n"
PLAIN_HTTP_REPLY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close"
                    b"\r\nContent-Length: %d\r\n\r\n%s" % (len(PLAIN_HTTP_TEXT), PLAIN_HTTP_TEXT))

HANDSHAKE, IDLE, HEAD, BUSY, DRAIN, CLOSED = "handshake", "idle", "head", "busy", "drain", \
    "closed"


@dataclass(frozen=True)
class Limits:
    handshake_timeout_s: float = 10
    request_head_timeout_s: float = 15
    keepalive_timeout_s: float = 30
    max_header_bytes: int = 65536
    max_connections_per_address: int = 128


def client_key(address: str) -> str:
    """What the per-address cap counts: the IPv4 address, or the /64 of an IPv6 one (a
    single client usually holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Inbox:
    """What cheroot's reader reads from: bytes collected ahead, then the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def recv_into(self, b: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self.buf:
            n = min(len(b), len(self.buf))
            b[:n] = self.buf[:n]
            del self.buf[:n]
            return n
        return self.sock.recv_into(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def _decref_socketios(self) -> None:  # socket.SocketIO calls it on close
        pass


class GatedRequest(HTTPRequest):
    """A request that never waits for a body nobody reads: when the answer comes before
    the body (401, 403, 404 to an upload, ...) and the rest of the body has not arrived
    yet, the connection is closed instead of kept by reading it (cheroot would read it
    to its end, as slowly as the client likes, in a worker thread)."""

    def send_headers(self) -> None:
        remaining = getattr(self.rfile, "remaining", 0) or 0
        unread_chunks = self.chunked_read and not getattr(self.rfile, "closed", True)
        if unread_chunks or remaining > self.conn.buffered():
            self.close_connection = True
            self.conn.body_abandoned = True
        super().send_headers()


class GatedConnection(HTTPConnection):
    """A cheroot connection that reads its request heads from an ``Inbox``."""

    RequestHandlerClass = GatedRequest
    rbufsize = 256 * 1024  # bigger than cheroot's 8 KiB: fewer Python-level reads per MB
    wbufsize = 256 * 1024

    def __init__(self, server: Any, sock: socket.socket, listener: Listener,
                 address: str) -> None:
        """``address`` is the key the per-address cap counts (see ``client_key``)."""
        self.inbox = Inbox(sock)
        self.listener, self.address = listener, address
        self.phase = HANDSHAKE
        self.deadline = 0.0
        self.registered = False
        self.events = 0
        self.fd = -1
        self.scanned = 0  # bytes of the inbox already searched for the end of the head
        self.drained = 0
        self.body_abandoned = False  # answered before the body: linger on close
        super().__init__(server, sock, self._files)

    def buffered(self) -> int:
        """Bytes received but not read yet (reader buffer and inbox)."""
        rfile = self.rfile
        return len(rfile._read_buf) - rfile._read_pos + len(self.inbox.buf)

    def _files(self, sock: socket.socket, mode: str, size: int) -> Any:
        return MakeFile(self.inbox if "r" in mode else sock, mode, size)

    def close(self) -> None:
        if self.body_abandoned:
            self.body_abandoned = False
            if self.listener.linger(self):
                return  # the selector thread drains, then closes
        try:
            super().close()
        finally:
            self.listener.release(self)


class Listener(ConnectionManager):
    """cheroot's connection manager with the work of the door done without blocking."""

    def __init__(self, server: Any, limits: Limits) -> None:
        super().__init__(server)
        self.limits = limits
        self._per_address: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._next_sweep = 0.0
        self._warned_at = 0.0
        server.socket.setblocking(False)  # accept until EAGAIN (workers share the port)

    # --- selector thread ------------------------------------------------------------
    def _run(self, expiration_interval: float) -> None:
        while not self._stop_requested:
            try:
                events = list(self._selector.select(timeout=TICK))
            except OSError:
                self._remove_invalid_sockets()
                continue
            for _fd, item in events:
                if item is self.server:
                    self._accept_some()
                elif item.phase != CLOSED:
                    self._advance(item)
            now = time.monotonic()
            if now >= self._next_sweep:
                self._sweep(now)
                self._next_sweep = now + TICK

    def _accept_some(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = self.server.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in OUT_OF_FILES:
                    self._warn(f"cannot accept connections: {exc.strerror}")
                    time.sleep(0.05)  # the socket stays readable: do not spin
                return
            self._admit(sock, addr)

    def _admit(self, sock: socket.socket, addr: Any) -> None:
        address = addr[0] if isinstance(addr, tuple) else ""
        key = client_key(address)
        with self._count_lock:
            if self._per_address[key] >= self.limits.max_connections_per_address:
                refused = True
            else:
                self._per_address[key] += 1
                refused = False
        if refused:
            self._warn(f"connections from {address} over "
                       f"webdav.max_connections_per_address "
                       f"({self.limits.max_connections_per_address}); refusing more")
            sock.close()
            return
        try:
            prevent_socket_inheritance(sock)
            sock.setblocking(False)
            adapter = self.server.ssl_adapter
            if adapter is not None:
                sock = adapter.context.wrap_socket(sock, server_side=True,
                                                   do_handshake_on_connect=False)
            conn = GatedConnection(self.server, sock, self, key)
        except OSError:
            self._release_address(key)
            sock.close()
            return
        conn.remote_addr, conn.remote_port = address, addr[1] if isinstance(addr, tuple) \
            else 0
        conn.ssl_env = {}
        now = time.monotonic()
        if adapter is not None:
            conn.phase, conn.deadline = HANDSHAKE, now + self.limits.handshake_timeout_s
        else:
            conn.phase, conn.deadline = HEAD, now + self.limits.request_head_timeout_s
        self._advance(conn)

    def _advance(self, conn: GatedConnection) -> None:
        """Make progress on ``conn`` without blocking: handshake, collect the head,
        hand it to a worker, refuse it, or wait for more bytes."""
        try:
            if conn.phase == HANDSHAKE and not self._handshake(conn):
                return
            if conn.phase == DRAIN:
                self._drain(conn)
                return
            while True:
                verdict = self._head_verdict(conn)
                if verdict == "ready":
                    self._dispatch(conn)
                    return
                if verdict == "too big":
                    self._refuse(conn, "431 Request Header Fields Too Large",
                                 "request header too large\n")
                    return
                try:
                    data = conn.socket.recv(READ_SIZE)
                except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                    self._wait(conn)
                    return
                except ssl.SSLWantWriteError:
                    self._wait(conn, selectors.EVENT_WRITE)
                    return
                if not data:
                    self._drop(conn)
                    return
                if conn.phase == IDLE:
                    conn.phase = HEAD
                    conn.deadline = time.monotonic() + self.limits.request_head_timeout_s
                conn.inbox.buf += data
        except (OSError, ValueError):  # ssl.SSLError is an OSError; ValueError: closed
            self._drop(conn)

    def _handshake(self, conn: GatedConnection) -> bool:
        sock: ssl.SSLSocket = conn.socket  # type: ignore[assignment]
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._wait(conn)
            return False
        except ssl.SSLWantWriteError:
            self._wait(conn, selectors.EVENT_WRITE)
            return False
        except ssl.SSLError as exc:
            if "http request" in str(exc).lower():  # plain HTTP on the TLS port
                with contextlib.suppress(OSError):
                    socket.socket.send(sock, PLAIN_HTTP_REPLY)  # bypasses TLS
            raise
        conn.ssl_env = self.server.ssl_adapter.get_environ(sock)
        conn.phase = HEAD
        conn.deadline = time.monotonic() + self.limits.request_head_timeout_s
        return True

    def _head_verdict(self, conn: GatedConnection) -> str:
        buf, limit = conn.inbox.buf, self.limits.max_header_bytes
        if not buf:
            return "wait"
        start = max(0, conn.scanned - 3)
        found = HEAD_END.search(buf, start, limit + 4)
        if found:
            return "ready"
        conn.scanned = len(buf)
        return "too big" if len(buf) > limit else "wait"

    def _dispatch(self, conn: GatedConnection) -> None:
        self._unwait(conn)
        conn.phase, conn.scanned = BUSY, 0
        conn.socket.settimeout(self.server.timeout)
        conn.last_used = time.time()
        self.server.process_conn(conn)

    def _refuse(self, conn: GatedConnection, status: str, text: str) -> None:
        """Answer with a one-line error, then drain what the client is still sending
        (so that it reads the answer rather than a reset) for a bounded time."""
        self._say(conn, status, text)
        try:
            conn.socket.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(conn)
            return
        conn.inbox.buf.clear()
        conn.phase, conn.deadline = DRAIN, time.monotonic() + DRAIN_SECONDS
        self._drain(conn)

    def linger(self, conn: GatedConnection) -> bool:
        """A worker answered before the request body arrived and closes: instead of a
        close that would reset the connection (and could destroy the answer before the
        client reads it), stop sending and drain what the client still sends in the
        selector thread, bounded in time and bytes. False if that cannot be done."""
        try:
            conn.socket.shutdown(socket.SHUT_WR)
            conn.socket.setblocking(False)
        except (OSError, ValueError):
            return False
        conn.inbox.buf.clear()
        conn.phase, conn.deadline = DRAIN, time.monotonic() + DRAIN_SECONDS
        self._drain(conn)
        return True

    def _drain(self, conn: GatedConnection) -> None:
        try:
            while conn.drained < DRAIN_BYTES:
                data = conn.socket.recv(READ_SIZE)
                if not data:
                    break
                conn.drained += len(data)
            else:
                self._drop(conn)
                return
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            self._wait(conn)
            return
        except (OSError, ValueError):
            pass
        self._drop(conn)

    def _say(self, conn: GatedConnection, status: str, text: str) -> None:
        body = text.encode()
        reply = (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: "
                 f"{len(body)}\r\nConnection: close\r\n\r\n").encode() + body
        with contextlib.suppress(OSError, ValueError):
            conn.socket.send(reply)  # small: fits the empty send buffer

    def _wait(self, conn: GatedConnection, events: int = selectors.EVENT_READ) -> None:
        if conn.registered and conn.events == events:
            return
        self._unwait(conn)
        # set before register: from then on the selector thread may take the connection
        conn.registered, conn.events, conn.fd = True, events, conn.socket.fileno()
        self._selector.register(conn.fd, events, data=conn)

    def _unwait(self, conn: GatedConnection) -> None:
        if conn.registered:
            conn.registered = False
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(conn.fd)

    def _drop(self, conn: GatedConnection) -> None:
        self._unwait(conn)
        conn.phase = CLOSED
        try:
            conn.close()
        except (OSError, ValueError):
            self.release(conn)

    def _sweep(self, now: float) -> None:
        late = [conn for _fd, conn in self._selector.connections
                if conn is not self.server and conn.deadline <= now]
        for conn in late:
            if conn.phase == HEAD and conn.inbox.buf:
                self._say(conn, "408 Request Timeout", "request head too slow\n")
            self._drop(conn)

    # --- worker threads ---------------------------------------------------------------
    def put(self, conn: GatedConnection) -> None:  # type: ignore[override]
        """A worker finished a request and keeps the connection: wait for the next head
        here, not in the worker (pipelined bytes already read go back into the inbox)."""
        conn.last_used = time.time()
        rfile = conn.rfile
        if rfile.has_data():
            ahead = bytes(rfile.peek(0))
            conn.inbox.buf[:0] = rfile.read1(len(ahead))
        try:
            conn.socket.setblocking(False)
        except OSError:
            self._drop(conn)
            return
        now = time.monotonic()
        conn.scanned = 0
        if conn.inbox.buf:
            conn.phase, conn.deadline = HEAD, now + self.limits.request_head_timeout_s
        else:
            conn.phase, conn.deadline = IDLE, now + self.limits.keepalive_timeout_s
        self._advance(conn)

    # --- bookkeeping ------------------------------------------------------------------
    def release(self, conn: GatedConnection) -> None:
        """Forget ``conn`` in the per-address count (once, whoever closes it)."""
        if getattr(conn, "_released", False):
            return
        conn._released = True  # type: ignore[attr-defined]
        conn.phase = CLOSED
        self._release_address(conn.address)

    def _release_address(self, address: str) -> None:
        with self._count_lock:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:  # at most one line a minute
            self._warned_at = now
            log.warning("webdav: %s", message)


def install(server: Any, limits: Limits) -> None:
    """Use the gated listener for ``server`` (call after ``server.prepare()``)."""
    old = server._connections
    server._connections = Listener(server, limits)
    old._selector.close()
    server.max_request_header_size = limits.max_header_bytes + 1024  # second barrier
