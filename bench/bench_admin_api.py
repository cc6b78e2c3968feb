"""Admin API: is a refused token told apart by time? And what a call costs.

1. ``tokens.authenticate`` in-process for a valid token and for each kind of bad one
   (unknown id, real id + wrong secret, expired, revoked, malformed): median microseconds
   and the ratio to the valid token's (the check does one row lookup and one HMAC on
   every path; a valid token may add the last-use write at most every 5 minutes).
2. Over HTTPS against a real ``serve`` (the tests' set-up): median milliseconds of
   ``GET /v1/tenants`` per kind (401 for every bad one) and of ``/healthz``.

Usage: .venv/bin/python bench/bench_admin_api.py [--n 2000] [--http-n 200]
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from localnet import wait_port  # noqa: E402

from gateway.admin_api import tokens  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.core import Core  # noqa: E402
from tests.admin_api.conftest import _setup, env_for  # noqa: E402


def kinds(made: dict[str, str]) -> dict[str, str]:
    real = made["all"]
    return {"valid": real, "unknown id": "lmx_0123456789abcdef_" + "A" * 43,
            "wrong secret": real[:21] + "B" * 43, "expired": made["expired"],
            "revoked": made["revoked"], "malformed": "not-a-token"}


def median_us(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--http-n", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config, made = _setup(Path(tmp))
        with Core.open(load_config(config), audit_log="off") as core:
            key = tokens.derive_key(core)

            def check(token: str) -> None:
                with contextlib.suppress(tokens.TokenRefused):
                    tokens.authenticate(core, token, key)

            print(f"tokens.authenticate, median of {args.n} (SQLite):")
            base = None
            for kind, token in kinds(made).items():
                us = median_us(lambda t=token: check(t), args.n)
                base = base or us
                print(f"  {kind:13s} {us:8.1f} us   {us / base:5.2f}x valid")
        port = load_config(config).admin_api.port
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"],
                                env=env_for(config), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_port(port, 60)
            time.sleep(1)
            http = requests.Session()
            ca = str(Path(tmp) / "certs" / "gw.crt")  # per call: a session's is overridden
            url = f"https://127.0.0.1:{port}"
            print(f"HTTPS GET /v1/tenants (keep-alive), median of {args.http_n}:")
            base = None
            for kind, token in kinds(made).items():
                ms = median_us(lambda t=token: http.get(
                    url + "/v1/tenants", headers={"Authorization": f"Bearer {t}"},
                    verify=ca),
                    args.http_n) / 1000
                base = base or ms
                print(f"  {kind:13s} {ms:8.2f} ms   {ms / base:5.2f}x valid")
            ms = median_us(lambda: http.get(url + "/healthz", verify=ca), args.http_n) / 1000
            print(f"  /healthz      {ms:8.2f} ms")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
