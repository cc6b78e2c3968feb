"""The s3 blob store against the local store, over WebDAV (HTTPS, curl for large files,
one keep-alive connection for small ones), with moto's own PUT/GET of the same objects
through boto3 as the ceiling; and the memory of one upload in flight.

    .venv/bin/python bench/bench_s3.py                 # 256 MiB large file, 300 small
    .venv/bin/python bench/bench_s3.py --large-mib 1024 --small 1000

The S3 endpoint is moto's standalone server (``moto_server``) in its own process: the only
S3-compatible server that installs here. It keeps objects in its memory, so the ceiling is
moto's, not a real object store's. 4 KiB files are below ``storage.inline_max_bytes`` and
never reach any store (catalog rows); 128 KiB files are the smallest that do.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import io
import json
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from localnet import free_port, wait_port  # noqa: E402

from tests.s3.moto_server import CREDENTIALS, write_credentials  # noqa: E402
from tests.security.conftest import PW, SecGateway, started_gateway  # noqa: E402

MiB = 1024 * 1024


@contextlib.contextmanager
def moto_process() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H",
                             "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 30, lambda: None)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def client(url: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", **CREDENTIALS)


def s3_extra(url: str, bucket: str, creds: Path) -> str:
    return (f'[storage]\nbackend = "s3"\n[storage.s3]\nendpoint_url = "{url}"\n'
            f'bucket = "{bucket}"\nregion = "us-east-1"\naddressing_style = "path"\n'
            f'credentials_file = "{creds}"\n')


def curl(gw: SecGateway, *args: str) -> None:
    subprocess.run(["curl", "-k", "-sS", "-f", "-u", f"alice@acme:{PW}", *args],
                   check=True, stdout=subprocess.DEVNULL, timeout=3600)


def large(gw: SecGateway, src: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    curl(gw, "-T", str(src), gw.url + "/large.bin")
    t1 = time.perf_counter()
    curl(gw, "-o", "/dev/null", gw.url + "/large.bin")
    t2 = time.perf_counter()
    mb = src.stat().st_size / 1e6
    return mb / (t1 - t0), mb / (t2 - t1)


def small(gw: SecGateway, size: int, count: int) -> tuple[float, float]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", gw.webdav_port, context=ctx, timeout=60)
    auth = {"Authorization": "Basic " + base64.b64encode(f"alice@acme:{PW}".encode()).decode()}
    body = secrets.token_bytes(size)
    t0 = time.perf_counter()
    for i in range(count):
        conn.request("PUT", f"/s{size}-{i}.bin", body=body, headers=auth)
        r = conn.getresponse()
        r.read()
        assert r.status in (201, 204), r.status
    t1 = time.perf_counter()
    for i in range(count):
        conn.request("GET", f"/s{size}-{i}.bin", headers=auth)
        r = conn.getresponse()
        assert len(r.read()) == size
    t2 = time.perf_counter()
    conn.close()
    return count / (t1 - t0), count / (t2 - t1)


def ceiling(url: str, src: Path, sizes: dict[int, int]) -> dict[str, tuple[float, float]]:
    from boto3.s3.transfer import TransferConfig

    c = client(url)
    bucket = "ceiling-" + secrets.token_hex(4)
    c.create_bucket(Bucket=bucket)
    cfg = TransferConfig(multipart_chunksize=8 * MiB, max_concurrency=4)
    t0 = time.perf_counter()
    c.upload_file(str(src), bucket, "large", Config=cfg)
    t1 = time.perf_counter()
    c.download_fileobj(bucket, "large", io.BytesIO(), Config=cfg)
    t2 = time.perf_counter()
    mb = src.stat().st_size / 1e6
    out = {"large MB/s": (mb / (t1 - t0), mb / (t2 - t1))}
    for size, count in sizes.items():
        body = secrets.token_bytes(size)
        t0 = time.perf_counter()
        for i in range(count):
            c.put_object(Bucket=bucket, Key=f"s{i}", Body=body)
        t1 = time.perf_counter()
        for i in range(count):
            c.get_object(Bucket=bucket, Key=f"s{i}")["Body"].read()
        t2 = time.perf_counter()
        out[f"{size // 1024} KiB req/s"] = (count / (t1 - t0), count / (t2 - t1))
    return out


def upload_memory(url: str, tmp: Path, part_mib: int, in_flight: int) -> float:
    c = client(url)
    bucket = "mem-" + secrets.token_hex(4)
    c.create_bucket(Bucket=bucket)
    conf = tmp / f"mem-{part_mib}-{in_flight}.toml"
    conf.write_text(s3_extra(url, bucket, tmp / "creds")
                    + f"part_size = {part_mib * MiB}\nparts_in_flight = {in_flight}\n")
    r = subprocess.run([sys.executable, "-m", "tests.s3.upload_probe", str(conf), "--mib",
                        "128"], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(r.stdout)["peak"] / MiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large-mib", type=int, default=256)
    ap.add_argument("--small", type=int, default=300)
    args = ap.parse_args()
    sizes = {4096: args.small, 128 * 1024: args.small}
    with tempfile.TemporaryDirectory() as d, moto_process() as url:
        tmp = Path(d)
        src = tmp / "large.bin"
        with src.open("wb") as f:
            for _ in range(args.large_mib):
                f.write(os.urandom(MiB))
        creds = write_credentials(tmp / "creds")
        rows: dict[str, dict[str, tuple[float, float]]] = {}
        for store in ("local", "s3"):
            extra = ""
            if store == "s3":
                bucket = "gw-" + secrets.token_hex(4)
                client(url).create_bucket(Bucket=bucket)
                extra = s3_extra(url, bucket, creds)
            with started_gateway(tmp / store, extra=extra) as gw:
                res = {"large MB/s": large(gw, src)}
                for size, count in sizes.items():
                    res[f"{size // 1024} KiB req/s"] = small(gw, size, count)
                rows[store] = res
        rows["moto+boto3"] = ceiling(url, src, sizes)
        print(f"large file {args.large_mib} MiB, {args.small} small files of each size")
        print(f"{'':22}{'local':>18}{'s3':>18}{'moto ceiling':>18}{'s3/local':>12}"
              f"{'s3/ceiling':>12}")
        for metric in rows["local"]:
            for i, op in enumerate(("PUT", "GET")):
                lo, s3, ce = (rows[k][metric][i] for k in ("local", "s3", "moto+boto3"))
                print(f"{metric + ' ' + op:22}{lo:18.1f}{s3:18.1f}{ce:18.1f}"
                      f"{s3 / lo:12.2f}{s3 / ce:12.2f}")
        for part, k in ((5, 2), (8, 4), (16, 4)):
            peak = upload_memory(url, tmp, part, k)
            print(f"upload of 128 MiB, part {part} MiB x {k} in flight: heap peak "
                  f"{peak:.1f} MiB (bound part x (in flight + 1) = {part * (k + 1)} MiB)")


if __name__ == "__main__":
    main()
