"""The s3 store's own promises beyond the contract suite: one-line config errors naming
the key, credentials never shown, bounded upload memory, coalesced ranged reads, and
retries with back-off on throttling (a real proxy answering 503 SlowDown)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.backends import BlobStore, load
from gateway.config import config_from_dict
from gateway.errors import BackendError, ConfigError
from tests.s3 import moto_server
from tests.s3.flaky_proxy import FlakyProxy

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
SECRET = moto_server.CREDENTIALS["aws_secret_access_key"]


def store_of(tmp: Path, **options: object) -> BlobStore:
    cfg = config_from_dict({"storage": {"backend": "s3", "s3": options}}, base_dir=tmp,
                           source="t.toml")
    return load(cfg)


def s3_store(tmp: Path, endpoint: str | None = None, **extra: object) -> BlobStore:
    server = moto_server.shared()
    options = server.options(server.new_bucket(), **extra)
    if endpoint:
        options["endpoint_url"] = endpoint
    creds = moto_server.write_credentials(tmp / "creds")
    return store_of(tmp, credentials_file=str(creds), **options)


@pytest.mark.parametrize(("options", "key"), [
    ({}, "storage.s3.bucket"),
    ({"bucket": "b", "addressing_style": "dns"}, "storage.s3.addressing_style"),
    ({"bucket": "b", "part_size": 1024}, "storage.s3.part_size"),
    ({"bucket": "b", "parts_in_flight": 0}, "storage.s3.parts_in_flight"),
    ({"bucket": "b", "read_ahead": 10}, "storage.s3.read_ahead"),
    ({"bucket": "b", "endpoint_url": "http://AKIA:secret@h:9000"}, "storage.s3.endpoint_url"),
    ({"bucket": "b", "prefix": "/abs"}, "storage.s3.prefix"),
])
def test_bad_options_are_one_line_errors_naming_the_key(
        tmp_path: Path, options: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        store_of(tmp_path, **options)
    msg = str(err.value)
    assert "\n" not in msg and key in msg and "secret" not in msg


def test_credentials_file_problems_never_show_the_keys(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.write_text(f"[other]\naws_secret_access_key = {SECRET}\n")
    with pytest.raises(BackendError) as err:
        store_of(tmp_path, bucket="b", credentials_file=str(creds))
    assert "[default]" in str(err.value) and SECRET not in str(err.value)
    with pytest.raises(BackendError) as err:
        store_of(tmp_path, bucket="b", credentials_file=str(creds), profile="other")
    assert "aws_access_key_id" in str(err.value) and SECRET not in str(err.value)


def test_unreachable_endpoint_errors_and_describe_carry_no_secret(tmp_path: Path) -> None:
    from localnet import free_port

    store = s3_store(tmp_path, endpoint=f"http://127.0.0.1:{free_port()}", max_attempts=1,
                     timeout_s=2)
    assert SECRET not in repr(store.describe())
    for action in (store.check, lambda: store.open("0" * 32),
                   lambda: list(store.enumerate())):
        with pytest.raises(BackendError) as err:
            action()
        assert "\n" not in str(err.value) and SECRET not in str(err.value)


def test_upload_memory_is_bounded_by_part_size_times_parts_in_flight(tmp_path: Path) -> None:
    """Measured in a process of its own: the S3 server here keeps every part in memory."""
    server = moto_server.shared()
    creds = moto_server.write_credentials(tmp_path / "creds")
    options = server.options(server.new_bucket(), part_size=5 * MiB, parts_in_flight=2,
                             credentials_file=str(creds))
    conf = tmp_path / "g.toml"
    conf.write_text('[storage]\nbackend = "s3"\n[storage.s3]\n' + "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in options.items()))
    r = subprocess.run([sys.executable, "-m", "tests.s3.upload_probe", str(conf), "--mib",
                        "40"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert result["size"] == 40 * MiB
    # at most one part filling + two in flight (the bound: part_size x (in flight + 1))
    assert result["peak"] < 5 * MiB * 3.5, f"peak {result['peak'] / MiB:.1f} MiB for 40 MiB"


def test_segment_reads_are_served_from_few_ranged_gets(tmp_path: Path) -> None:
    store = s3_store(tmp_path, read_ahead=1 * MiB)
    blob_id, data = secrets.token_hex(16), secrets.token_bytes(3 * MiB + 5)
    sink = store.create(blob_id)
    sink.write(data)
    sink.commit()
    gets: list[str] = []
    store.client.meta.events.register(  # type: ignore[attr-defined]
        "before-call.s3.GetObject", lambda **kw: gets.append(kw["params"]["headers"]
                                                              .get("Range", "")))
    out = bytearray()
    with store.open(blob_id) as src:
        buf = bytearray(64 * 1024)
        offset = 0
        while n := src.readinto(offset, memoryview(buf)):
            out += buf[:n]
            offset += n
    assert bytes(out) == data
    assert len(gets) == 4, gets  # 3 MiB + 5 bytes in 1 MiB windows, not 49 segment GETs


def test_throttling_and_5xx_are_retried_with_back_off(tmp_path: Path) -> None:
    server = moto_server.shared()
    proxy = FlakyProxy(server.port, {"PUT"}, fail=3)
    try:
        store = s3_store(tmp_path, endpoint=proxy.url, part_size=5 * MiB, max_attempts=2)
        blob_id, data = secrets.token_hex(16), secrets.token_bytes(6 * MiB)
        sink = store.create(blob_id)
        sink.write(data)
        assert sink.commit() == len(data)
        assert proxy.refused == 3
        with store.open(blob_id) as src:
            buf = bytearray(len(data))
            assert src.readinto(0, memoryview(buf)) == len(data) and bytes(buf) == data
    finally:
        proxy.close()


def test_an_upload_that_keeps_failing_is_aborted_in_one_line(tmp_path: Path) -> None:
    server = moto_server.shared()
    proxy = FlakyProxy(server.port, {"PUT"}, fail=-1)  # every part refused
    try:
        store = s3_store(tmp_path, endpoint=proxy.url, part_size=5 * MiB, max_attempts=1)
        sink = store.create(secrets.token_hex(16))
        with pytest.raises(BackendError) as err:
            sink.write(secrets.token_bytes(6 * MiB))
        assert str(err.value) == "s3 upload-part failed: SlowDown"
        sink.abort()
        client = server.client()
        assert client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
        assert list(store.enumerate()) == []
    finally:
        proxy.close()


def test_parallel_uploads_share_the_client_safely(tmp_path: Path) -> None:
    store = s3_store(tmp_path, part_size=5 * MiB, parts_in_flight=2)
    blobs = {secrets.token_hex(16): secrets.token_bytes(11 * MiB + i) for i in range(3)}

    def up(blob_id: str, data: bytes) -> None:
        sink = store.create(blob_id)
        for i in range(0, len(data), 65536):
            sink.write(data[i:i + 65536])
        sink.commit()

    threads = [threading.Thread(target=up, args=item) for item in blobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {b.blob_id: b.size for b in store.enumerate()} == {k: len(v) for k, v in
                                                              blobs.items()}


def test_a_missing_bucket_fails_the_startup_check_in_one_line(tmp_path: Path) -> None:
    server = moto_server.shared()
    creds = moto_server.write_credentials(tmp_path / "creds")
    store = store_of(tmp_path, credentials_file=str(creds),
                     **server.options("no-such-bucket-" + secrets.token_hex(4)))
    with pytest.raises(BackendError) as err:
        store.check()
    msg = str(err.value)
    assert "\n" not in msg and "is not usable (404)" in msg and "storage.s3.bucket" in msg
