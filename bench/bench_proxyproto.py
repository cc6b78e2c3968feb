"""What the PROXY protocol costs a connection: parsing a header (v1, v2) and reading it
from a socket, against what every WebDAV connection pays anyway (a TLS handshake).

    .venv/bin/python bench/bench_proxyproto.py [--n 20000]

Prints microseconds per operation and the ratio to one TLS 1.3 handshake over a
socketpair (both ends in this process). No network, no gateway: the parser's own cost.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.proxyproto import V2_SIGNATURE, HeaderReader, parse

V1 = b"PROXY TCP4 192.0.2.7 10.0.1.11 40000 8443\r\n"
V2 = V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", 12) + socket.inet_aton("192.0.2.7") + \
    socket.inet_aton("10.0.1.11") + struct.pack("!HH", 40000, 8443)


def per_op(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def read_from_socket(header: bytes) -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        a.sendall(header + b"\x16\x03\x01")
        assert HeaderReader(b).step() is not None


def tls_contexts(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key, crt = tmp / "k.pem", tmp / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=bench"], check=True, capture_output=True)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(crt), str(key))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    return server, client


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    a, b = socket.socketpair()
    with a, b:
        t = threading.Thread(target=lambda: server.wrap_socket(b, server_side=True).close())
        t.start()
        client.wrap_socket(a).close()
        t.join()


def sftp_handoff_options(n: int) -> float:
    """What ``asyncssh.run_server(sock, options=...)`` adds per proxied SFTP connection:
    a copy of the prepared server options (in asyncio's default executor)."""
    import asyncio

    import asyncssh

    async def run() -> float:
        key = asyncssh.generate_private_key("ssh-ed25519")
        base = await asyncssh.SSHServerConnectionOptions.construct(server_host_keys=[key])
        t = time.perf_counter()
        for _ in range(n):
            await asyncssh.SSHServerConnectionOptions.construct(base)
        return (time.perf_counter() - t) / n * 1e6

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    n = ap.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        server, client = tls_contexts(Path(tmp))
        tls = per_op(lambda: handshake(server, client), max(50, n // 100))
    rows = [("parse v1", per_op(lambda: parse(V1), n)),
            ("parse v2", per_op(lambda: parse(V2), n)),
            ("socket + read v1 header", per_op(lambda: read_from_socket(V1), n // 10)),
            ("socket + read v2 header", per_op(lambda: read_from_socket(V2), n // 10)),
            ("SFTP hand-off options copy", sftp_handoff_options(max(50, n // 50))),
            ("TLS handshake (reference)", tls)]
    for name, us in rows:
        print(f"{name:28s} {us:9.1f} us   {us / tls:7.4f} x TLS handshake")


if __name__ == "__main__":
    main()
