"""A real gateway (``serve``) on the s3 store, with the S3 endpoint (moto's server) stopped
in the middle of a large WebDAV upload: the client gets an error, the previous version
stays readable once S3 is back, catalog-only operations keep working while it is down, and
the sweeper leaves no multipart upload or object behind."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import time
from pathlib import Path

from gateway.backends import load
from gateway.config import load_config
from gateway.core import Core
from tests.s3.moto_server import MotoS3, write_credentials
from tests.security.conftest import PW, SecGateway, started_gateway
from tests.sftp.conftest import need

MiB = 1024 * 1024


def s3_extra(server: MotoS3, bucket: str, creds: Path) -> str:
    return (f'[storage]\nbackend = "s3"\n[storage.s3]\nendpoint_url = "{server.url}"\n'
            f'bucket = "{bucket}"\nregion = "us-east-1"\naddressing_style = "path"\n'
            f'prefix = "gw/"\ncredentials_file = "{creds}"\npart_size = {5 * MiB}\n'
            f'parts_in_flight = 2\nmax_attempts = 2\ntimeout_s = 5\n')


def put(gw: SecGateway, path: str, payload: Path) -> str:
    r = gw.curl("-X", "PUT", "--data-binary", f"@{payload}", "-o", "/dev/null",
                "-w", "%{http_code}", path, login="alice@acme")
    return r.stdout


def wait_for_multipart(server: MotoS3, bucket: str, timeout: float = 60) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
            return
        time.sleep(0.05)
    raise AssertionError("the large upload never reached S3")


def test_s3_down_mid_upload(tmp_path: Path) -> None:
    server = MotoS3()
    try:
        _scenario(server, tmp_path)
    finally:
        server.stop()


def _scenario(server: MotoS3, tmp_path: Path) -> None:
    bucket = server.new_bucket()
    creds = write_credentials(tmp_path / "s3-credentials")
    v1 = tmp_path / "v1.bin"
    v1.write_bytes(secrets.token_bytes(300_000))  # above inline_max_bytes: a blob in S3
    small = tmp_path / "small.txt"
    small.write_text("inline " * 100)  # below inline_max_bytes: catalog only
    big = tmp_path / "big.bin"
    big.write_bytes(secrets.token_bytes(48 * MiB))
    with started_gateway(tmp_path / "gw", extra=s3_extra(server, bucket, creds)) as gw:
        assert put(gw, "/report.bin", v1) == "201"
        assert put(gw, "/small.txt", small) == "201"
        assert gw.curl("-X", "MKCOL", "-o", "/dev/null", "-w", "%{http_code}", "/docs",
                       login="alice@acme"
                       ).stdout == "201"
        objects = server.client().list_objects_v2(Bucket=bucket, Prefix="gw/")
        assert [o["Size"] for o in objects["Contents"]] and len(objects["Contents"]) == 1

        # replace report.bin with a large file, slowly; stop S3 once parts are arriving
        upload = subprocess.Popen(
            [need("curl"), "-k", "-sS", "--max-time", "120", "--limit-rate", "8M",
             "-u", f"alice@acme:{PW}", "-X", "PUT", "--data-binary", f"@{big}",
             "-o", "/dev/null", "-w", "%{http_code}", gw.url + "/report.bin"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_multipart(server, bucket)
        server.stop()
        out, err = upload.communicate(timeout=150)
        assert not out.startswith("2"), f"the client must see the failure: {out} {err}"

        # S3 down: listings and inline files still work; a blob read fails cleanly
        listing = gw.curl("-X", "PROPFIND", "-H", "Depth: 1", "/", login="alice@acme")
        assert "small.txt" in listing.stdout and "report.bin" in listing.stdout
        assert "docs" in listing.stdout
        assert gw.curl("/small.txt", login="alice@acme").stdout == small.read_text()
        small2 = tmp_path / "small2.txt"
        small2.write_text("written while S3 was down")
        assert put(gw, "/docs/small2.txt", small2) == "201"
        assert gw.curl("/docs/small2.txt", login="alice@acme").stdout == small2.read_text()
        down = gw.curl("-o", "/dev/null", "-w", "%{http_code}", "/report.bin",
                       login="alice@acme")
        assert not down.stdout.startswith("2")

        # S3 back: the previous version is intact
        server.start()
        got = subprocess.run([need("curl"), "-k", "-sS", "-u", f"alice@acme:{PW}",
                              gw.url + "/report.bin"], capture_output=True, timeout=60)
        assert hashlib.sha256(got.stdout).digest() == hashlib.sha256(v1.read_bytes()).digest()

        _sweep_leaves_nothing(server, bucket, gw)
    assert "lumanox-test-secret" not in gw.output()


def _sweep_leaves_nothing(server: MotoS3, bucket: str, gw: SecGateway) -> None:
    client = server.client()
    # the aborted upload could not be aborted while S3 was down: it is the sweeper's
    assert len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
    r = subprocess.run([*gc_argv(gw), "--grace", "0", "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # `gc` never sweeps temp state younger than a minute; the same sweep, without that floor
    cfg = load_config(gw.config_path)
    swept = load(cfg).sweep_temp(0, dry_run=False)
    assert swept.removed == 1 and swept.removed_bytes >= 5 * MiB
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    with Core.open(cfg) as core:
        referenced = {"gw/" + b.blob_id for b in core.store.enumerate()}
    assert keys == referenced and len(keys) == 1


def gc_argv(gw: SecGateway) -> list[str]:
    import sys
    return [sys.executable, "-m", "gateway", "gc", "--config", str(gw.config_path)]
