"""Run as a separate process (so the S3 server's own memory is not counted): stream
``--mib`` MiB into the s3 store and print the Python heap peak of the upload, in bytes.

    python -m tests.s3.upload_probe CONFIG.toml --mib 40
"""

from __future__ import annotations

import argparse
import json
import secrets
import tracemalloc

from gateway.backends import load
from gateway.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--mib", type=int, default=40)
    args = ap.parse_args()
    store = load(load_config(args.config))
    chunk = secrets.token_bytes(64 * 1024)
    store.create(secrets.token_hex(16)).abort()  # warm up the client outside the measure
    tracemalloc.start()
    sink = store.create(secrets.token_hex(16))
    for _ in range(args.mib * 16):
        sink.write(chunk)
    size = sink.commit()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"size": size, "peak": peak}))


if __name__ == "__main__":
    main()
