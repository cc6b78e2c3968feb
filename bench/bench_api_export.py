"""Admin API subject export: memory and time of a streamed ZIP, next to the CLI's.

A real ``serve`` (the admin API tests' set-up); alice@acme gets one incompressible file of
``--mib`` MiB. The export is fetched over HTTPS (``POST .../subject/export``, read in
1 MiB pieces and hashed, never held) and written by ``subject export``. Printed: the
seconds of each, their ratio, and the admin API process's peak resident memory during the
download (``VmHWM`` after ``clear_refs``; the process is found by its listening socket).

Usage: .venv/bin/python bench/bench_api_export.py [--mib 200]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
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

from gateway.config import load_config  # noqa: E402
from tests.admin_api.conftest import _setup, env_for  # noqa: E402

MIB = 1 << 20


def listener_pid(port: int) -> int:
    """The process holding the listening socket of ``port`` (IPv4)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and f[3] == "0A":
            inodes.add(f"socket:[{f[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
        except OSError:
            continue
    raise SystemExit(f"no process listens on {port}")


def hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mib", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config, made = _setup(Path(tmp))
        env = env_for(config)
        src = Path(tmp) / "big.bin"
        block = hashlib.shake_256(b"bench").digest(MIB)
        with src.open("wb") as f:
            for i in range(args.mib):
                f.write(i.to_bytes(8, "big") + block[8:])
        gw = [sys.executable, "-m", "gateway"]
        subprocess.run([*gw, "files", "put", "alice@acme", str(src), "/big.bin"], env=env,
                       check=True)
        src.unlink()
        port = load_config(config).admin_api.port
        proc = subprocess.Popen([*gw, "serve"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_port(port, 60)
            time.sleep(1)
            pid = listener_pid(port)
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            before = hwm_mib(pid)
            t = time.perf_counter()
            digest, size = hashlib.sha256(), 0
            with requests.post(f"https://127.0.0.1:{port}/v1/tenants/acme/subject/export",
                               json={"user": "alice"}, stream=True, timeout=600,
                               verify=str(Path(tmp) / "certs" / "gw.crt"),
                               headers={"Authorization": f"Bearer {made['users']}"}) as r:
                r.raise_for_status()
                for piece in r.iter_content(MIB):
                    digest.update(piece)
                    size += len(piece)
            api_s = time.perf_counter() - t
            assert digest.hexdigest() == r.headers["X-Content-SHA256"]
            peak = hwm_mib(pid)
            t = time.perf_counter()
            subprocess.run([*gw, "subject", "export", "--tenant", "acme", "--user", "alice",
                            "--out", str(Path(tmp) / "cli.zip")], env=env, check=True,
                           capture_output=True)
            cli_s = time.perf_counter() - t
            print(f"export of {args.mib} MiB ({size / MIB:.1f} MiB ZIP):")
            print(f"  API (HTTPS, streamed)  {api_s:7.2f} s")
            print(f"  CLI subject export     {cli_s:7.2f} s   API/CLI {api_s / cli_s:5.2f}x")
            print(f"  admin API process peak RSS: {before:.0f} MiB before, {peak:.0f} MiB "
                  f"during the download ({(peak - before) / args.mib:.2f} MiB per MiB "
                  "exported)")
            leftover = list((Path(tmp) / "var" / "tmp").glob("subject-*"))
            print(f"  temporary files left: {len(leftover)}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
