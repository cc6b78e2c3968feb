"""Metrics of a real ``serve`` (2 WebDAV workers, 1 SFTP worker): uploads by curl and
OpenSSH sftp are counted exactly once across the processes, logins by result and method,
the sessions gauge follows connections, every named blob store is timed under its own
name, and ``status`` shows the live picture."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from pathlib import Path

from sqlalchemy import func, select

from gateway.catalog.tables import audit_events
from gateway.core import Core
from tests.metrics.conftest import PW, Served, wait_for

N = 10
#: one file of each protocol is larger than storage.inline_max_bytes: it reaches the store
BIG = 100_000


def sizes(offset: int) -> list[int]:
    return [BIG if i == 0 else 1000 + offset + 37 * i for i in range(N)]


def catalog_counts(served: Served) -> dict[tuple[str, str, str], int]:
    """(protocol, action, result) -> events stored in the catalog."""
    c = audit_events.c
    with Core.open(served.cfg, migrate=False) as core, core.catalog.read() as conn:
        rows = conn.execute(select(c.protocol, c.action, c.result, func.count())
                            .where(c.protocol.in_(("webdav", "sftp", "ssh")))
                            .group_by(c.protocol, c.action, c.result)).all()
    return {(p, a, r): n for p, a, r, n in rows}


def metric_counts(served: Served) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for (name, labels), value in served.samples().items():
        d = dict(labels)
        if name == "lumanox_operations_total":
            key = (d["protocol"], d["action"], d["result"])
        elif name == "lumanox_logins_total":
            result = "ok" if d["result"] == "partial" else d["result"]
            key = (d["protocol"], "login", result)
        else:
            continue
        out[key] = out.get(key, 0) + int(value)
    return out


def test_uploads_counted_exactly_once(served: Served, tmp_path: Path) -> None:
    before_put = served.value("lumanox_blob_store_seconds_count", op="put")
    dav_sizes, sftp_sizes = sizes(0), sizes(5)
    for i, size in enumerate(dav_sizes):
        f = tmp_path / f"dav{i}.bin"
        f.write_bytes(bytes([i]) * size)
        assert served.curl("-u", f"alice@acme:{PW}", "-T", str(f),
                           f"URL/dav{i}.bin").stdout == "201"
    local = tmp_path / "sftp"
    local.mkdir()
    for i, size in enumerate(sftp_sizes):
        (local / f"s{i}.bin").write_bytes(bytes([i]) * size)
    served.sftp_batch("bob@acme", "".join(f"put s{i}.bin\n" for i in range(N)), cwd=local)

    assert served.value("lumanox_transfer_bytes_total", protocol="webdav",
                        direction="in") == sum(dav_sizes)
    assert served.value("lumanox_transfer_bytes_total", protocol="sftp",
                        direction="in") == sum(sftp_sizes)
    assert served.value("lumanox_operations_total", protocol="webdav", action="write",
                        result="ok") == N
    assert served.value("lumanox_operations_total", protocol="sftp", action="write",
                        result="ok") == N
    # the two large files went through the (timed) blob store; the small ones are inline
    assert served.value("lumanox_blob_store_seconds_count", op="put") - before_put == 2
    assert served.value("lumanox_operation_seconds_count", protocol="sftp",
                        action="write") >= N
    # every operation and login the catalog holds is counted once, whichever worker did it
    assert wait_for(lambda: catalog_counts(served) == metric_counts(served)), \
        (catalog_counts(served), metric_counts(served))


def test_download_counts_bytes_out_and_store_get(served: Served, tmp_path: Path) -> None:
    f = tmp_path / "big.bin"
    f.write_bytes(b"x" * BIG)
    assert served.curl("-u", f"alice@acme:{PW}", "-T", str(f), "URL/big.bin").stdout == "201"
    out = served.value("lumanox_transfer_bytes_total", protocol="webdav", direction="out")
    gets = served.value("lumanox_blob_store_seconds_count", op="get")
    assert served.curl("-u", f"alice@acme:{PW}", "URL/big.bin").stdout == "200"
    assert wait_for(lambda: served.value("lumanox_transfer_bytes_total", protocol="webdav",
                                         direction="out") == out + BIG)
    assert served.value("lumanox_blob_store_seconds_count", op="get") == gets + 1


def test_logins_by_result_and_method(served: Served) -> None:
    assert served.curl("-u", "alice@acme:wrong-password", "URL/").stdout == "401"
    assert served.value("lumanox_logins_total", protocol="webdav", method="password",
                        result="denied") >= 1
    client = served.paramiko("alice@acme")
    client.close()
    assert served.value("lumanox_logins_total", protocol="ssh", method="password",
                        result="ok") >= 1
    assert wait_for(lambda: served.value("lumanox_audit_batch_seconds_count") > 0)


def test_sessions_gauge_follows_connections(served: Served) -> None:
    client = served.paramiko("alice@acme")
    try:
        sftp = client.open_sftp()
        sftp.listdir("/")
        assert served.value("lumanox_sessions_open", protocol="sftp", tenant="acme") == 1
        live = served.status()["live"]
        assert live["sessions"]["sftp"] == 1
    finally:
        client.close()
    assert wait_for(lambda: served.value("lumanox_sessions_open", protocol="sftp") == 0)
    # every WebDAV request has ended: none is counted as open
    assert wait_for(lambda: served.value("lumanox_sessions_open", protocol="webdav") == 0)
    assert served.status()["live"]["sessions"] == {"sftp": 0, "webdav": 0}


def test_webdav_request_is_an_open_session_until_answered(served: Served) -> None:
    """A PUT whose body is still arriving: authenticated, so its session is open."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    auth = base64.b64encode(f"alice@acme:{PW}".encode()).decode()
    with socket.create_connection(("127.0.0.1", served.cfg.webdav.port), timeout=20) as raw, \
            ctx.wrap_socket(raw) as tls:
        tls.sendall(f"PUT /slow.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                    "Content-Length: 10\r\nConnection: close\r\n\r\nhello".encode())
        assert wait_for(lambda: served.value("lumanox_sessions_open", protocol="webdav",
                                             tenant="acme") == 1)
        assert served.status()["live"]["sessions"]["webdav"] == 1
        tls.sendall(b"world")
        assert tls.recv(64).startswith(b"HTTP/1.1 201")
    assert wait_for(lambda: served.value("lumanox_sessions_open", protocol="webdav") == 0)


def test_status_shows_listeners_sessions_and_recent_problems(served: Served) -> None:
    served.curl("-u", "nobody@acme:wrong", "URL/")
    data = served.status()
    live = data["live"]
    assert live["serving"] is True and live["uptime_s"] >= 0
    assert live["listeners"]["webdav"]["up"] is True
    assert live["listeners"]["sftp"]["up"] is True
    assert any(p["action"] == "login" and p["result"] == "denied"
               for p in live["recent_problems"])
    text = served.cli("status").stdout
    assert "listener webdav" in text and "up (answering" in text
    assert "sessions now:" in text


def test_build_info_and_json_output(served: Served, tmp_path: Path) -> None:
    f = tmp_path / "j.txt"
    f.write_bytes(b"json")
    assert served.curl("-u", f"alice@acme:{PW}", "-T", str(f), "URL/j.txt").stdout in \
        ("201", "204")
    assert served.value("lumanox_build_info") >= 1
    families = {f["name"]: f for f in json.loads(served.cli("metrics", "--json").stdout)}
    assert families["lumanox_operations"]["type"] == "counter"
    assert any(s["labels"].get("action") == "write"
               for s in families["lumanox_operations"]["samples"])
    assert "lumanox_build_info" not in served.cli("status").stdout


def test_a_tenant_on_the_second_store_moves_that_stores_histogram(
        served: Served, tmp_path: Path) -> None:
    """Writes go to the tenant's store and reads to the blob's: both are timed under the
    store's name (not only the default store's)."""
    from gateway import admin
    from gateway.storage_migrate.placement import set_placement

    with Core.open(served.cfg, migrate=False) as core:
        admin.create_tenant(core, "vault")
        admin.create_user(core, "vault", "val", password=PW)
        set_placement(core, "vault", store="second")

    def count(op: str, store: str) -> float:
        return served.value("lumanox_blob_store_seconds_count", op=op, store=store)

    before = {(op, s): count(op, s) for op in ("put", "get") for s in ("default", "second")}
    f = tmp_path / "far.bin"
    f.write_bytes(b"v" * BIG)  # beyond the inline limit: it reaches the store
    assert served.curl("-u", f"val@vault:{PW}", "-T", str(f), "URL/far.bin").stdout == "201"
    assert served.curl("-u", f"val@vault:{PW}", "URL/far.bin").stdout == "200"
    assert any((served.base / "blobs-second").rglob("*")), "the blob is not in the second store"
    assert count("put", "second") == before["put", "second"] + 1
    assert wait_for(lambda: count("get", "second") == before["get", "second"] + 1)
    assert count("put", "default") == before["put", "default"]
    assert count("get", "default") == before["get", "default"]
