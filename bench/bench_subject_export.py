"""Data-subject export throughput vs plain `zip` of the same plaintext files.

Stores ``--large`` files of ``--large-mib`` MiB and ``--small`` files of ``--small-kib`` KiB
for one user (through a core Session: encrypted at rest), writes the same plaintext to a
plain folder, then times ``export_subject`` (decrypt through the Session, deflate level 1,
SHA-256 of every member, manifest, events) against ``zip -q -r -1`` and ``zip -q -r -0``
of that folder. Content is incompressible (``--compressible`` for text-like content).
Prints MB/s of plaintext and the ratios.

Usage: .venv/bin/python bench/bench_subject_export.py [--large 4 --large-mib 64
       --small 200 --small-kib 96] [--db-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway import admin  # noqa: E402
from gateway.compliance.subject import Criteria, export_subject  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.core import Core  # noqa: E402
from gateway.keyring import create_master_key_file  # noqa: E402

MIB = 1 << 20


def content(seed: str, size: int, compressible: bool) -> bytes:
    if compressible:
        line = f"{seed}: the quick brown fox jumps over the lazy dog 0123456789\n".encode()
        return (line * (size // len(line) + 1))[:size]
    return hashlib.shake_256(seed.encode()).digest(size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--large-mib", type=int, default=64)
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--small-kib", type=int, default=96)
    ap.add_argument("--compressible", action="store_true")
    ap.add_argument("--db-url", default=None)
    args = ap.parse_args()
    zip_tool = shutil.which("zip")
    if zip_tool is None:
        sys.exit("zip is not installed: scripts/install-system-deps.sh")
    base = Path(tempfile.mkdtemp(prefix="lmx-bench-subject-"))
    try:
        run(args, base, zip_tool)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, base: Path, zip_tool: str) -> None:
    cfg = Config(base_dir=base)
    cfg.gateway.data_dir = str(base / "data")
    cfg.catalog.url = args.db_url or f"sqlite:///{base / 'catalog.db'}"
    cfg.audit.log = "off"
    create_master_key_file(cfg.master_key_file)
    plain = base / "plain"
    (plain / "small").mkdir(parents=True)
    total = 0
    with Core.open(cfg) as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice")
        session = core.session(admin.principal_for(core, "acme", "alice"), "bench", "local")
        session.mkdir("/small")
        files = [(f"/large-{i}.bin", args.large_mib * MIB) for i in range(args.large)] + \
            [(f"/small/s-{i}.bin", args.small_kib * 1024) for i in range(args.small)]
        for path, size in files:
            data = content(path, size, args.compressible)
            with session.open_write(path) as w:
                for off in range(0, len(data), MIB):
                    w.write(data[off:off + MIB])
            (plain / path.lstrip("/")).write_bytes(data)
            total += size
        out = base / "export.zip"
        t0 = time.perf_counter()
        export_subject(core, Criteria("acme", "alice"), out)
        t_export = time.perf_counter() - t0
        export_size = out.stat().st_size
    results = [("subject export (decrypt, sha256, zip)", t_export, export_size)]
    for level in ("-1", "-0"):
        target = base / f"plain{level}.zip"
        os.sync()
        t0 = time.perf_counter()
        subprocess.run([zip_tool, "-q", "-r", level, str(target), "."], cwd=plain, check=True)
        results.append((f"zip -q -r {level}", time.perf_counter() - t0, target.stat().st_size))
    mb = total / 1e6
    print(f"data-subject export bench: {args.large} x {args.large_mib} MiB + {args.small} x "
          f"{args.small_kib} KiB = {total / MIB:.0f} MiB plaintext "
          f"({'compressible' if args.compressible else 'incompressible'}), "
          f"{os.cpu_count()} cores, catalog {cfg.catalog_url.split(':')[0]}")
    print(f"{'measure':46} {'time':>8} {'MB/s':>8} {'archive':>10}  vs zip -1  vs zip -0")
    t_zip1, t_zip0 = results[1][1], results[2][1]
    for name, t, size in results:
        print(f"{name:46} {t:7.2f}s {mb / t:8.0f} {size / MIB:9.0f}M  "
              f"{t_zip1 / t:7.2f}x  {t_zip0 / t:7.2f}x")


if __name__ == "__main__":
    main()
