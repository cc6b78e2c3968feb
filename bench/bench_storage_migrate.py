"""``storage migrate`` throughput against the ceiling of copying the same stored files.

Writes ``--small`` files of 64 KiB and ``--large`` files of ``--large-mib`` MiB into the
default local store (no inline blobs), then moves them to a second local store with
``gateway.storage_migrate.migrate`` (copy, read back + decrypt + MAC check, switch, release)
and compares with a plain ``shutil.copyfile`` + ``unlink`` of the same blob files (the
ceiling: no verification, no catalog). Prints MiB/s, files/s and the ratio.

Usage: .venv/bin/python bench/bench_storage_migrate.py [--small 300] [--large 4] [--large-mib 32]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "storage"))
sys.path.insert(0, str(ROOT))

from storage_helpers import core_of, make_env, session, store_dir  # noqa: E402

from gateway.storage_migrate.migrate import migrate  # noqa: E402


def run(label: str, small: int, large: int, large_mib: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = make_env(Path(tmp))
        with core_of(env) as core:
            s = session(core)
            for i in range(small):
                s.write_file(f"/s{i}.bin", os.urandom(64 * 1024))
            for i in range(large):
                s.write_file(f"/l{i}.bin", os.urandom(large_mib * 1024 * 1024))
        src = [p for p in store_dir(env, "default").rglob("*") if p.is_file()]
        nbytes = sum(p.stat().st_size for p in src)
        ceiling_dir = Path(tmp) / "ceiling"
        ceiling_dir.mkdir()
        t = time.perf_counter()
        for p in src:
            shutil.copyfile(p, ceiling_dir / p.name)
            with open(ceiling_dir / p.name, "rb+") as f:
                os.fsync(f.fileno())
        ceiling = time.perf_counter() - t
        with core_of(env) as core:
            t = time.perf_counter()
            r = migrate(core, "acme", "ch1")
            took = time.perf_counter() - t
        mib = nbytes / 2**20
        print(f"{label}: {r.files} files, {mib:.1f} MiB; migrate {mib / took:.1f} MiB/s "
              f"{r.files / took:.0f} files/s ({took:.2f} s); plain copy+fsync "
              f"{mib / ceiling:.1f} MiB/s ({ceiling:.2f} s); ratio migrate/copy "
              f"{ceiling / took:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=300)
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--large-mib", type=int, default=32)
    a = ap.parse_args()
    run("small files (64 KiB)", a.small, 0, a.large_mib)
    run(f"large files ({a.large_mib} MiB)", 0, a.large, a.large_mib)


if __name__ == "__main__":
    main()
