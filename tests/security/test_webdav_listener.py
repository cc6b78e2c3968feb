"""Attacks on the WebDAV listener itself: connections that never speak, heads that never
end or never stop growing, bodies too big to parse, URLs that are not UTF-8.

Every test talks to a real ``gateway serve`` over TLS on 127.0.0.1 with hand-written
requests. The many-connection tests are bounded in count and time and close their
sockets; source addresses 127.0.0.2-127.0.0.5 stand for other clients (Linux routes the
whole 127/8 to the loopback interface).
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PW, SecGateway

AUTH = "Basic " + base64.b64encode(f"alice@acme:{PW}".encode()).decode()
PROPFIND_0 = (b'<?xml version="1.0" encoding="utf-8"?>'
              b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')


# --- small raw-HTTP helpers -----------------------------------------------------------------
def tcp(gw: SecGateway, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gw.webdav_port), timeout=timeout,
                                    source_address=(source, 0))
    return sock


def tls(gw: SecGateway, source: str = "127.0.0.1", timeout: float = 10) -> ssl.SSLSocket:
    return gw.tls_context().wrap_socket(tcp(gw, source, timeout), server_hostname="127.0.0.1")


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response: status, lower-cased headers, body (Content-Length or EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    while length is not None and len(body) < int(length):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def request(sock: socket.socket, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    hdrs = {"Host": "127.0.0.1", "Content-Length": str(len(body)), **(headers or {})}
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    sock.sendall(head.encode("latin-1") + b"\r\n" + body)
    return read_response(sock)


def timed_propfind(gw: SecGateway, source: str = "127.0.0.1", timeout: float = 15
                   ) -> float:
    """Seconds for a fresh connection to get an authenticated PROPFIND Depth 0 answered."""
    start = time.monotonic()
    with tls(gw, source, timeout) as sock:
        status, _, _ = request(sock, "PROPFIND", "/", {"Authorization": AUTH, "Depth": "0"},
                               PROPFIND_0)
    assert status == 207
    return time.monotonic() - start


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """True when the server closed ``sock`` (EOF or reset) within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            return False
        try:
            if not sock.recv(65536):
                return True
        except ssl.SSLWantReadError:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


@contextlib.contextmanager
def many(make: callable, count: int) -> Iterator[list[socket.socket]]:  # type: ignore[valid-type]
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            socks.append(make(i))
        yield socks
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()


def tree_rss_kib(root: int) -> int:
    """Resident memory of process ``root`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def gateway_log_is_clean(gw: SecGateway) -> None:
    out = gw.output()
    assert "Traceback" not in out, out[-3000:]


# --- item 7: TLS handshakes off the accept loop -------------------------------------------
def test_silent_connections_do_not_delay_a_normal_request(secgw: SecGateway) -> None:
    timed_propfind(secgw)  # warm the credential cache
    baseline = max(timed_propfind(secgw) for _ in range(3))
    with many(lambda _i: tcp(secgw), 50) as silent:
        time.sleep(0.5)  # the listener has accepted them all
        took = timed_propfind(secgw, timeout=15)
        print(f"PROPFIND: {baseline:.3f} s alone, {took:.3f} s with 50 silent connections")
        assert took < baseline + 1.0, f"{took:.2f} s with 50 silent connections " \
                                      f"(baseline {baseline:.2f} s)"
        # and the server gives up on them (webdav.handshake_timeout_s, default 10 s)
        assert all(closed_by_peer(s, 25) for s in silent)
    gateway_log_is_clean(secgw)


# --- item 9: slowloris ---------------------------------------------------------------------
def _slow_head(gw: SecGateway, i: int) -> ssl.SSLSocket:
    sock = tls(gw, f"127.0.0.{2 + i % 4}", timeout=20)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


def test_slow_request_heads_do_not_starve_the_workers(secgw: SecGateway) -> None:
    with many(lambda i: _slow_head(secgw, i), 200) as slow:
        for round_ in range(3):
            for s in slow:  # one more header line each: never a complete head
                with contextlib.suppress(OSError):
                    s.sendall(f"X-Slow-{round_}: 1\r\n".encode())
            took = timed_propfind(secgw, timeout=15)
            print(f"PROPFIND with 200 slow heads open: {took:.3f} s")
            assert took < 5.0, f"{took:.2f} s with 200 slow heads open"
            time.sleep(1.0)
    gateway_log_is_clean(secgw)


def test_a_request_head_has_a_total_deadline(secgw: SecGateway) -> None:
    """A header line every second never completes the head: closed after
    webdav.request_head_timeout_s (default 15 s), not kept forever."""
    with tls(secgw, timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < 30:
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                closed = True
                break
            if closed_by_peer(sock, 1.0):
                closed = True
                break
        took = time.monotonic() - start
    assert closed, "a dripping request head was never cut off"
    assert took < 25, took


def test_connections_per_address_are_capped(secgw: SecGateway) -> None:
    """webdav.max_connections_per_address (default 128): the next connection from the same
    address is closed at once; other addresses are still served."""
    with many(lambda _i: tcp(secgw, "127.0.0.9"), 128):
        time.sleep(0.5)
        extra = tcp(secgw, "127.0.0.9", timeout=5)
        with extra:
            assert closed_by_peer(extra, 5), "connection over the per-address cap kept open"
        assert timed_propfind(secgw, "127.0.0.10") < 10
    # the cap frees up with the connections
    time.sleep(1.0)
    assert timed_propfind(secgw, "127.0.0.9") < 10


def test_an_unread_body_does_not_hold_a_worker(secgw: SecGateway) -> None:
    """An upload refused before its body (here 401) is not read to its end, however
    slowly it comes: the answer is sent and the connection closed."""
    with tls(secgw, timeout=20) as sock:
        sock.sendall(b"PUT /drip.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
                     b"\r\n" + b"d" * 10)
        status, _, _ = read_response(sock)
        assert status == 401
        start = time.monotonic()
        closed = False
        while not closed and time.monotonic() - start < 15:
            try:
                sock.sendall(b"d")
            except OSError:
                closed = True
                break
            closed = closed_by_peer(sock, 1.0)
        assert closed and time.monotonic() - start < 5


def test_idle_keepalive_connections_are_closed(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(webdav_extra="keepalive_timeout_s = 2")
    with tls(gw, timeout=20) as sock:
        status, headers, _ = request(sock, "GET", "/", {"Authorization": AUTH})
        assert status == 200 and headers.get("connection", "").lower() != "close"
        start = time.monotonic()
        assert closed_by_peer(sock, 15)
        assert time.monotonic() - start > 1.0
    # a busy keep-alive connection is not cut: three requests 1 s apart
    with tls(gw, timeout=20) as sock:
        for _ in range(3):
            status, headers, _ = request(sock, "GET", "/", {"Authorization": AUTH})
            assert status == 200 and headers.get("connection", "").lower() != "close"
            time.sleep(1.0)


# --- item 8: header and XML body limits ------------------------------------------------------
def exchange(sock: ssl.SSLSocket, first: bytes, filler: bytes, total: int,
             timeout: float = 30) -> tuple[int, int]:
    """Send ``first``, then ``filler`` up to ``total`` bytes, while reading the answer, all
    in this one thread (an SSL socket must never be used by two threads at once: OpenSSL
    may crash); sending stops once an answer head has arrived, as a client would.
    Returns the answer's status and how many bytes had gone out before it came."""
    sock.setblocking(False)
    pending, sent, data = memoryview(first), 0, b""
    deadline = time.monotonic() + timeout
    try:
        while b"\r\n\r\n" not in data:
            assert time.monotonic() < deadline, f"no answer in {timeout} s ({sent} B sent)"
            writing = sent < total
            readable, writable, _ = select.select([sock], [sock] if writing else [], [], 0.2)
            if readable or sock.pending():
                try:
                    chunk = sock.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    chunk = None
                if chunk == b"":
                    raise ConnectionError(f"closed before a response head: {data[:200]!r}")
                if chunk:
                    data += chunk
                    continue
            if writable and writing:
                if not pending:
                    pending = memoryview(filler)
                try:
                    n = sock.send(pending[:65536])
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    n = 0
                except (BrokenPipeError, ConnectionResetError):
                    total, n = sent, 0  # the server stopped reading: only read now
                pending, sent = pending[n:], sent + n
    finally:
        sock.setblocking(True)
        sock.settimeout(timeout)
    return int(data.split(b" ", 2)[1]), sent


def test_huge_request_head_is_refused_before_authentication(secgw: SecGateway) -> None:
    total = 64 * 1024 * 1024
    assert secgw.proc is not None
    rss_before = tree_rss_kib(secgw.proc.pid)
    with tls(secgw, timeout=30) as sock:
        status, sent = exchange(sock, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ",
                                b"a" * 65536, total)
        assert status == 431
        assert sent < total, "the server waited for a 64 MiB header to its end"
        assert closed_by_peer(sock, 10)
    grown = tree_rss_kib(secgw.proc.pid) - rss_before
    print(f"gateway RSS growth after a 64 MiB header attempt: {grown} KiB")
    assert grown < 32 * 1024, f"the gateway grew by {grown} KiB"
    # many header lines, each small, count as well
    with tls(secgw, timeout=30) as sock:
        lines = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(1000))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines[:60000])
        assert exchange(sock, lines[60000:], b"X-More: 1\r\n" * 1000, 4 * 1024 * 1024)[0] \
            == 431
    assert timed_propfind(secgw) < 10
    gateway_log_is_clean(secgw)


def test_oversized_xml_bodies_are_refused_unread(secgw: SecGateway) -> None:
    """webdav.max_xml_body_bytes (default 1 MiB): 413 before wsgidav parses the body."""
    big = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>' + \
        b"<D:displayname/>" * 80000 + b"</D:prop></D:propfind>"
    assert len(big) > 1024 * 1024
    for method, auth in (("PROPFIND", True), ("PROPFIND", False), ("PROPPATCH", True),
                         ("LOCK", True)):
        with tls(secgw, timeout=30) as sock:
            hdrs = {"Depth": "0", "Content-Length": str(len(big)),
                    "Content-Type": "application/xml"}
            if auth:
                hdrs["Authorization"] = AUTH
            head = f"{method} /big HTTP/1.1\r\nHost: x\r\n" + \
                "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
            status, _ = exchange(sock, head.encode() + big, b"", len(head) + len(big))
            assert status == 413, (method, auth, status)
    # a declared length far beyond the cap: refused without waiting for any body byte
    with tls(secgw, timeout=10) as sock:
        sock.sendall(b"PROPFIND / HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nAuthorization: " +
                     AUTH.encode() + b"\r\nContent-Length: 200000000\r\n\r\n")
        assert read_response(sock)[0] == 413
    # chunked: counted while it arrives
    with tls(secgw, timeout=30) as sock:
        head = (b"PROPFIND / HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nAuthorization: " +
                AUTH.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        assert exchange(sock, head + chunk, chunk, 4 * 1024 * 1024)[0] == 413
    # a PUT is not an XML body: large uploads still work
    payload = b"z" * (3 * 1024 * 1024)
    with tls(secgw, timeout=30) as sock:
        status, _, _ = request(sock, "PUT", "/big-put.bin", {"Authorization": AUTH}, payload)
        assert status in (201, 204)
    # and an ordinary PROPFIND body is fine
    with tls(secgw) as sock:
        assert request(sock, "PROPFIND", "/", {"Authorization": AUTH, "Depth": "1"},
                       PROPFIND_0)[0] == 207
    gateway_log_is_clean(secgw)


# --- item 12: URLs that are not UTF-8 --------------------------------------------------------
@pytest.mark.parametrize("path", ["/%ff", "/%c0%ae", "/a%ffb/c", "/ok/%e9t%e9.txt"])
def test_url_that_is_not_utf8_is_400(secgw: SecGateway, path: str) -> None:
    for method, auth in (("GET", False), ("GET", True), ("PROPFIND", True), ("PUT", True),
                         ("DELETE", True), ("MKCOL", True)):
        headers = {"Authorization": AUTH} if auth else {}
        if method == "PROPFIND":
            headers["Depth"] = "0"
        with tls(secgw) as sock:
            status, _, _ = request(sock, method, path, headers)
        assert status == 400, (method, auth, path, status)
    gateway_log_is_clean(secgw)


def test_destination_or_raw_bytes_not_utf8_is_400(secgw: SecGateway) -> None:
    with tls(secgw) as sock:
        assert request(sock, "PUT", "/utf8-src.txt", {"Authorization": AUTH}, b"x")[0] in (
            201, 204)
    for method in ("MOVE", "COPY"):
        with tls(secgw) as sock:
            status, _, _ = request(sock, method, "/utf8-src.txt", {
                "Authorization": AUTH, "Destination": f"{secgw.url}/%ff%fe.txt"})
        assert status == 400, (method, status)
    with tls(secgw) as sock:  # not even percent-encoded
        sock.sendall(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH.encode() +
                     b"\r\n\r\n")
        assert read_response(sock)[0] == 400
    gateway_log_is_clean(secgw)


def test_plain_http_on_the_tls_port_gets_a_readable_400(secgw: SecGateway) -> None:
    with tcp(secgw) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(sock)
    assert status == 400 and b"https://" in body


@pytest.mark.parametrize("key,value", [("max_header_bytes", 100), ("keepalive_timeout_s", 0),
                                       ("max_connections_per_address", 0),
                                       ("max_xml_body_bytes", 10**12)])
def test_listener_limits_are_validated(tmp_path: Path, key: str, value: int) -> None:
    from gateway.config import config_from_dict
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"webdav\.{key}: expected \d+ to \d+, got {value}"):
        config_from_dict({"webdav": {key: value}}, base_dir=tmp_path, source="test.toml")
    cfg = config_from_dict({}, base_dir=tmp_path, source="test.toml")
    assert (cfg.webdav.handshake_timeout_s, cfg.webdav.request_head_timeout_s,
            cfg.webdav.keepalive_timeout_s, cfg.webdav.max_header_bytes,
            cfg.webdav.max_xml_body_bytes, cfg.webdav.max_connections_per_address) == \
        (10, 15, 30, 65536, 1048576, 128)
