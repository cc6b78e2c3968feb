"""PROXY protocol v1 (text) and v2 (binary) headers, as sent by HAProxy ``send-proxy`` /
``send-proxy-v2``: who the real client of a connection from a load balancer is.

Reachable before any login, so parsing is cheap and bounded: a v1 line is at most 107
bytes, a v2 header at most ``MAX_V2_BYTES`` (its TLVs are skipped, never interpreted),
and ``HeaderReader`` never reads a byte past the header (it peeks first), so what
follows (a TLS ClientHello, an SSH version line) stays in the socket for its owner.

``parse(data)`` is pure: ``None`` (need more bytes), a ``ProxyHeader``, or
``BadProxyHeader``. See docs/deployment.md "Behind HAProxy".
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError

V1_PREFIX = b"PROXY "
V1_MAX_BYTES = 107  # the specification's bound, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family/transport, length
MAX_V2_BYTES = 16 + 2048  # addresses + TLVs HAProxy sends (unique id, TLS facts) fit
MAX_HEADER_BYTES = MAX_V2_BYTES
#: v2 family/transport byte -> size of the address block (TCP/UDP over IPv4, IPv6)
_V2_ADDR = {0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36}


class BadProxyHeader(ValueError):
    """The connection does not start with a valid PROXY protocol header."""


@dataclass(frozen=True)
class ProxyHeader:
    """``source`` is None for a ``LOCAL`` (v2) or ``UNKNOWN`` (v1) header: the load
    balancer speaks for itself (health checks), the connection's own peer applies."""

    version: int
    length: int  # bytes the header took on the wire
    source: str | None = None
    source_port: int = 0


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; None while it is incomplete."""
    if not data:
        return None
    if data[0:1] == b"P":
        return _parse_v1(data)
    if data[0:1] == b"\r":
        return _parse_v2(data)
    raise BadProxyHeader("no PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    head = data[:len(V1_PREFIX)]
    if not V1_PREFIX.startswith(head):
        raise BadProxyHeader("no PROXY protocol header")
    end = data.find(b"\r\n", 0, V1_MAX_BYTES)
    if end < 0:
        if len(data) >= V1_MAX_BYTES or b"\n" in data[:V1_MAX_BYTES]:
            raise BadProxyHeader("PROXY v1 line too long or not ended by CRLF")
        return None
    parts = data[:end].decode("ascii", "replace").split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(1, end + 2)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise BadProxyHeader("PROXY v1 line malformed")
    family = 4 if parts[1] == "TCP4" else 6
    src, _dst = _address(parts[2], family), _address(parts[3], family)
    sport, _dport = _port(parts[4]), _port(parts[5])
    return ProxyHeader(1, end + 2, src, sport)


def _address(text: str, family: int) -> str:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise BadProxyHeader("PROXY v1 address malformed") from None
    if ip.version != family:
        raise BadProxyHeader("PROXY v1 address malformed")
    return _plain(ip)


def _plain(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An IPv4 client seen by an IPv6 proxy socket (``::ffff:a.b.c.d``) is ``a.b.c.d``:
    the policy's IPv4 networks and the audit log must see it as such."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _port(text: str) -> int:
    if not text.isdigit() or len(text) > 5 or (len(text) > 1 and text[0] == "0") \
            or int(text) > 65535:
        raise BadProxyHeader("PROXY v1 port malformed")
    return int(text)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    sig = data[:len(V2_SIGNATURE)]
    if not V2_SIGNATURE.startswith(sig):
        raise BadProxyHeader("no PROXY protocol header")
    if len(data) < V2_FIXED:
        return None
    ver_cmd, fam, length = data[12], data[13], struct.unpack("!H", data[14:16])[0]
    if ver_cmd >> 4 != 2 or ver_cmd & 0x0F > 1:
        raise BadProxyHeader("PROXY v2 version or command unsupported")
    total = V2_FIXED + length
    if total > MAX_V2_BYTES:
        raise BadProxyHeader(f"PROXY v2 header over {MAX_V2_BYTES} bytes")
    if len(data) < total:
        return None
    if ver_cmd & 0x0F == 0:  # LOCAL: the proxy's own connection (health check)
        return ProxyHeader(2, total)
    if fam not in _V2_ADDR:  # UNSPEC or UNIX: no usable client address
        if fam >> 4 in (0, 3):
            return ProxyHeader(2, total)
        raise BadProxyHeader("PROXY v2 address family unsupported")
    size = _V2_ADDR[fam]
    if length < size:
        raise BadProxyHeader("PROXY v2 address block too short")
    body = data[V2_FIXED:V2_FIXED + size]
    half = (size - 4) // 2
    src = _plain(ipaddress.ip_address(body[:half]))
    sport = struct.unpack("!H", body[2 * half:2 * half + 2])[0]
    return ProxyHeader(2, total, src, sport)


# --- trust --------------------------------------------------------------------------------
def networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse CIDR strings (ValueError names the bad one)."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"not an address or network: {value!r}") from None
    return tuple(out)


def trusted(address: str, nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Is ``address`` (a peer as the socket reports it) one of the load balancers?"""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in nets)


# --- reading from a socket ----------------------------------------------------------------
class HeaderReader:
    """Collects a header from a non-blocking socket without reading past it.

    ``step()`` returns the header once complete, None when the socket has no more bytes
    yet (wait until readable, call again), and raises ``BadProxyHeader`` (also on EOF)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def step(self) -> ProxyHeader | None:
        while True:
            try:
                ahead = self.sock.recv(MAX_HEADER_BYTES - len(self.buf), socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                return None
            if not ahead:
                raise BadProxyHeader("connection closed before a PROXY header")
            header = parse(self.buf + ahead)
            if header is not None:
                self._take(header.length - len(self.buf))
                return header
            self.buf += self._take(len(ahead))  # all of it belongs to the header

    def _take(self, n: int) -> bytes:
        got = b""
        while len(got) < n:  # the bytes were peeked: they are there
            chunk = self.sock.recv(n - len(got))
            if not chunk:
                raise BadProxyHeader("connection closed inside a PROXY header")
            got += chunk
        return got


# --- configuration ------------------------------------------------------------------------
def validate_proxy(source: str, listeners: dict[str, Any]) -> None:
    """``[webdav]`` / ``[sftp]`` ``proxy_protocol`` and ``proxy_trusted``: one-line errors."""
    for name, section in listeners.items():
        try:
            nets = networks(section.proxy_trusted)
        except ValueError as exc:
            raise ConfigError(f"{source}: {name}.proxy_trusted: {exc}; expected addresses or "
                              "networks like \"10.0.0.5/32\"") from None
        if section.proxy_protocol and not nets:
            raise ConfigError(f"{source}: {name}.proxy_protocol = true needs "
                              f"{name}.proxy_trusted: the load balancers' addresses, e.g. "
                              "[\"10.0.0.5/32\"]")
