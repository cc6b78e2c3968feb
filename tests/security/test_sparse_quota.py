"""Sparse writes, truncates and announced uploads must not get past the quota or the
maximum file size (issue #9.3): they are refused at once, before any byte is written,
and the data folder does not grow."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import admin
from gateway.core import Core

from .conftest import PW, SecGateway

MiB = 1024 * 1024
QUOTA = 10 * 1000 * 1000
FAR = 512 * MiB
#: the data folder may grow by catalog pages and audit rows, never by the far offset
GROWTH_LIMIT = 4 * MiB
#: "at once": answered long before 512 MiB could be encrypted and written (generous)
PROMPT_S = 20.0


def quota_cast(core: Core) -> None:
    admin.create_tenant(core, "acme", quota_bytes=QUOTA)
    admin.create_user(core, "acme", "alice", password=PW)


def disk_usage(folder: Path) -> int:
    """Bytes the folder occupies on disk (allocated blocks: sparse files count as such)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total


@pytest.fixture(scope="module")
def quotagw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecGateway]:
    from .conftest import started_gateway

    with started_gateway(tmp_path_factory.mktemp("quotagw"), quota_cast) as gw:
        yield gw


def _sftp_error_text(exc: BaseException) -> str:
    return " ".join(str(a) for a in getattr(exc, "args", ())) or str(exc)


def _no_file_or_unchanged(gw: SecGateway, path: str, size: int | None) -> None:
    client, sftp = gw.paramiko_sftp("alice@acme")
    try:
        if size is None:
            with pytest.raises(FileNotFoundError):
                sftp.stat(path)
        else:
            assert sftp.stat(path).st_size == size
    finally:
        client.close()


def announce_put(gw: SecGateway, path: str, length: int) -> str:
    """Send only the head of a PUT announcing ``length`` bytes as alice; the answer's
    first bytes (it must come without any body byte sent)."""
    import base64

    auth = base64.b64encode(f"alice@acme:{PW}".encode()).decode()
    sock = gw.raw_tls(timeout=PROMPT_S)
    try:
        sock.sendall((f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Basic {auth}\r\nContent-Length: {length}\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n").encode())
        return sock.recv(4096).decode("latin-1")
    finally:
        sock.close()


def test_sftp_sparse_write_far_past_the_quota_is_refused_at_once(quotagw: SecGateway) -> None:
    before = disk_usage(quotagw.data_dir)
    client, sftp = quotagw.paramiko_sftp("alice@acme")
    started = time.monotonic()
    try:
        f = sftp.open("/sparse.bin", "w")
        f.seek(FAR)
        with pytest.raises(OSError) as info:
            f.write(b"x")
            f.flush()  # paramiko pipelines writes: the status arrives here at the latest
            f.close()
        assert "quota" in _sftp_error_text(info.value).lower()
    finally:
        client.close()
    assert time.monotonic() - started < PROMPT_S
    assert disk_usage(quotagw.data_dir) - before < GROWTH_LIMIT
    _no_file_or_unchanged(quotagw, "/sparse.bin", None)
    assert quotagw.wait_audit(action="write", result="denied", path="/sparse.bin")


def test_sftp_truncate_far_past_the_quota_is_refused_at_once(quotagw: SecGateway) -> None:
    client, sftp = quotagw.paramiko_sftp("alice@acme")
    try:
        with sftp.open("/small.bin", "w") as f:
            f.write(b"0123456789")
        before = disk_usage(quotagw.data_dir)
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            sftp.truncate("/small.bin", FAR)  # SETSTAT size
        assert "quota" in _sftp_error_text(info.value).lower()
        assert time.monotonic() - started < PROMPT_S
        # FSETSTAT size on an open handle
        f = sftp.open("/small.bin", "r+")
        with pytest.raises(OSError) as info:
            f.truncate(FAR)
        assert "quota" in _sftp_error_text(info.value).lower()
        f.close()
    finally:
        client.close()
    assert disk_usage(quotagw.data_dir) - before < GROWTH_LIMIT
    _no_file_or_unchanged(quotagw, "/small.bin", 10)
    denied = quotagw.wait_audit(action="write", result="denied", path="/small.bin")
    assert denied and all("quota" in (e.get("reason") or "") for e in denied)


def test_webdav_put_announcing_more_than_the_quota_is_refused_before_the_body(
        quotagw: SecGateway) -> None:
    """The 507 comes back while the client has sent the headers only."""
    before = disk_usage(quotagw.data_dir)
    head = announce_put(quotagw, "/big.bin", FAR)
    assert head.startswith("HTTP/1.1 507"), head[:200]
    assert disk_usage(quotagw.data_dir) - before < GROWTH_LIMIT
    r = quotagw.curl("-o", "/dev/null", "-w", "%{http_code}", "/big.bin", login="alice@acme")
    assert r.stdout == "404"


def test_a_sparse_write_inside_the_quota_still_works_and_its_hole_counts(
        quotagw: SecGateway) -> None:
    client, sftp = quotagw.paramiko_sftp("alice@acme")
    try:
        with sftp.open("/holey.bin", "w") as f:
            f.seek(2 * MiB)
            f.write(b"end")
        assert sftp.stat("/holey.bin").st_size == 2 * MiB + 3
        with sftp.open("/holey.bin", "r") as f:
            data = f.read()
        assert data[:2 * MiB] == bytes(2 * MiB) and data[2 * MiB:] == b"end"
    finally:
        client.close()
    with quotagw.core() as core:
        used = admin.get_tenant(core, "acme").used_bytes
    assert used >= 2 * MiB + 3  # the zero-filled hole is stored, so it is charged


# --- storage.max_file_bytes -----------------------------------------------------------------
MAX_FILE = 3 * MiB


@pytest.fixture(scope="module")
def maxgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecGateway]:
    """No quota at all: only storage.max_file_bytes bounds a file."""
    from .conftest import standard_cast, started_gateway

    with started_gateway(tmp_path_factory.mktemp("maxgw"), standard_cast,
                         extra=f"[storage]\nmax_file_bytes = {MAX_FILE}\n") as gw:
        yield gw


def test_max_file_bytes_refuses_sftp_sparse_write_and_truncate(maxgw: SecGateway) -> None:
    before = disk_usage(maxgw.data_dir)
    client, sftp = maxgw.paramiko_sftp("alice@acme")
    try:
        f = sftp.open("/far.bin", "w")
        f.seek(FAR)
        with pytest.raises(OSError) as info:
            f.write(b"x")
            f.flush()
            f.close()
        assert "quota" in _sftp_error_text(info.value).lower()
        with sftp.open("/ok.bin", "w") as f:
            f.write(b"a" * 1000)
        with pytest.raises(OSError) as info:
            sftp.truncate("/ok.bin", MAX_FILE + 1)
        assert "quota" in _sftp_error_text(info.value).lower()
        sftp.truncate("/ok.bin", MAX_FILE)  # exactly the limit is allowed
        assert sftp.stat("/ok.bin").st_size == MAX_FILE
    finally:
        client.close()
    assert disk_usage(maxgw.data_dir) - before < MAX_FILE + GROWTH_LIMIT
    events = maxgw.wait_audit(action="write", result="denied", path="/far.bin")
    assert events and "file-too-large" in events[-1]["reason"]


def test_max_file_bytes_refuses_a_webdav_put_before_the_body(maxgw: SecGateway) -> None:
    head = announce_put(maxgw, "/toolarge.bin", MAX_FILE + 1)
    assert head.startswith("HTTP/1.1 507"), head[:200]


def test_max_file_bytes_stops_a_chunked_webdav_put_at_the_limit(maxgw: SecGateway,
                                                                  tmp_path: Path) -> None:
    """No length announced: the upload is cut off where it passes the limit."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(MAX_FILE + 64 * 1024))
    r = maxgw.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                   "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{src}",
                   "/chunked.bin", login="alice@acme")
    assert r.stdout == "507", (r.stdout, r.stderr)
    r = maxgw.curl("-o", "/dev/null", "-w", "%{http_code}", "/chunked.bin", login="alice@acme")
    assert r.stdout == "404"
