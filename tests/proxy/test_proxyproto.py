"""The PROXY header parser: both versions, every refusal, never reading past the header."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, strategies as st

from gateway.proxyproto import (
    MAX_V2_BYTES,
    V2_SIGNATURE,
    BadProxyHeader,
    HeaderReader,
    networks,
    parse,
    trusted,
)


def v2(src: str, sport: int, *, command: int = 1, tlv: bytes = b"", fam: int | None = None,
       length: int | None = None) -> bytes:
    if ":" in src:
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, "::1")
        fam = 0x21 if fam is None else fam
    else:
        body = socket.inet_aton(src) + socket.inet_aton("127.0.0.1")
        fam = 0x11 if fam is None else fam
    body += struct.pack("!HH", sport, 8443) + tlv
    n = len(body) if length is None else length
    return V2_SIGNATURE + bytes([0x20 | command, fam]) + struct.pack("!H", n) + body


def test_v1_tcp4_and_tcp6() -> None:
    h = parse(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 8443\r\nGET / HTTP/1.1")
    assert h is not None and (h.version, h.source, h.source_port) == (1, "192.0.2.7", 40000)
    assert h.length == len(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 8443\r\n")
    h6 = parse(b"PROXY TCP6 2001:db8::5 ::1 1 2\r\n")
    assert h6 is not None and h6.source == "2001:db8::5"
    mapped = parse(b"PROXY TCP6 ::ffff:192.0.2.8 ::1 1 2\r\n")
    assert mapped is not None and mapped.source == "192.0.2.8"
    assert parse(v2("::ffff:192.0.2.9", 7)).source == "192.0.2.9"  # type: ignore[union-attr]
    unknown = parse(b"PROXY UNKNOWN\r\n")
    assert unknown is not None and unknown.source is None


def test_v2_inet_inet6_local_and_tlvs() -> None:
    data = v2("127.0.0.5", 5555, tlv=b"\x05\x00\x02ab")
    h = parse(data + b"SSH-2.0-x\r\n")
    assert h is not None and (h.version, h.source, h.source_port, h.length) == \
        (2, "127.0.0.5", 5555, len(data))
    assert parse(v2("2001:db8::9", 7)).source == "2001:db8::9"  # type: ignore[union-attr]
    local = parse(v2("10.0.0.1", 1, command=0))
    assert local is not None and local.source is None


@pytest.mark.parametrize("data", [
    b"PROXY TCP4 192.0.2.7 127.0.0.1 40000\r\n",  # a field missing
    b"PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n",  # family mismatch
    b"PROXY TCP4 192.0.2.700 127.0.0.1 1 2\r\n",
    b"PROXY TCP4 192.0.2.7 127.0.0.1 65536 2\r\n",
    b"PROXY TCP4 192.0.2.7 127.0.0.1 01 2\r\n",
    b"PROXY TCP5 192.0.2.7 127.0.0.1 1 2\r\n",
    b"PROXY TCP4 192.0.2.7 127.0.0.1 1 2\n",  # LF only
    b"PROXY " + b"1" * 120,  # longer than 107 bytes without CRLF
    b"GET / HTTP/1.1\r\n",
    b"\x16\x03\x01\x02\x00",  # a TLS ClientHello: no header
    b"SSH-2.0-OpenSSH_9.2\r\n",
    b"PROXZ",
    V2_SIGNATURE[:8] + b"X",
    v2("127.0.0.5", 1)[:12] + b"\x31" + v2("127.0.0.5", 1)[13:],  # version 3
    v2("127.0.0.5", 1, command=2),
    v2("127.0.0.5", 1, length=4),  # address block shorter than the family needs
    V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_BYTES),  # too long: refused at once
])
def test_refused(data: bytes) -> None:
    with pytest.raises(BadProxyHeader):
        parse(data)


@pytest.mark.parametrize("data", [b"", b"PRO", b"PROXY TCP4 1.2.3.4", V2_SIGNATURE[:5],
                                  v2("127.0.0.5", 1)[:20]])
def test_incomplete(data: bytes) -> None:
    assert parse(data) is None


@given(st.binary(max_size=300))
def test_never_crashes(data: bytes) -> None:
    try:
        h = parse(data)
    except BadProxyHeader:
        return
    assert h is None or h.length <= len(data)


def test_trust() -> None:
    nets = networks(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"])
    assert trusted("127.0.0.1", nets) and trusted("10.2.3.4", nets)
    assert trusted("::ffff:127.0.0.1", nets) and trusted("fd00::1", nets)
    assert not trusted("127.0.0.2", nets) and not trusted("", nets)
    with pytest.raises(ValueError, match="nonsense"):
        networks(["nonsense"])


@pytest.mark.parametrize("header", [b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 8443\r\n",
                                    v2("192.0.2.7", 40000, tlv=b"\x04\x00\x01z")])
def test_reader_stops_at_the_end_of_the_header(header: bytes) -> None:
    """Bytes after the header (a TLS ClientHello) stay in the socket, even when sent in
    the same segment, and a header trickling in byte by byte is assembled."""
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        reader = HeaderReader(b)
        for byte in header[:-1]:
            a.send(bytes([byte]))
            assert reader.step() is None
        a.send(header[-1:] + b"\x16\x03\x01rest")
        h = reader.step()
        assert h is not None and h.source == "192.0.2.7"
        assert b.recv(100) == b"\x16\x03\x01rest"


def test_reader_refuses_eof_and_garbage() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        a.send(b"\x16\x03\x01")
        with pytest.raises(BadProxyHeader):
            HeaderReader(b).step()
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        a.send(b"PROXY TCP4")
        a.shutdown(socket.SHUT_WR)
        reader = HeaderReader(b)
        with pytest.raises(BadProxyHeader, match="closed"):
            reader.step()
