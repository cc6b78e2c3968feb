"""Session write/read path of the core vs. plain files on the same disk, in one run.

Measures, on the embedded default (SQLite catalog, local blob store, encryption on):
- one large file (default 1 GiB) written and read through ``Session`` vs. a plain file
  written (write + fsync + rename, as the blob store does) and read with the OS;
- 2,000 small (4 KiB) files written and read through ``Session`` vs. plain files;
- the cost of the audit log on small files: the same small-file loop with audit events
  dropped instead of stored (``--no-audit`` variant measured side by side);
- the process CPU time per small file written and read (every thread, audit included).

Usage: .venv/bin/python bench/bench_core.py [--large-mib 1024] [--small 2000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from gateway import admin
from gateway.config import Config
from gateway.core import Core
from gateway.keyring import create_master_key_file

CHUNK = 1024 * 1024


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def plain_write(path: Path, data_iter) -> None:  # type: ignore[no-untyped-def]
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for chunk in data_iter:
        os.write(fd, chunk)
    os.fsync(fd)
    os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)


def plain_read(path: Path) -> int:
    n = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(CHUNK)
        while k := f.readinto(buf):
            n += k
    return n


def open_core(root: Path) -> Core:
    cfg = Config(base_dir=root)
    cfg.gateway.data_dir = str(root / "data")
    cfg.audit.log = "off"
    create_master_key_file(cfg.master_key_file)
    return Core.open(cfg)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--dir", default=None, help="where to put the data (default: a temp dir)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lmx-bench-", dir=args.dir))
    try:
        run(root, args.large_mib, args.small)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, large_mib: int, small: int) -> None:
    core = open_core(root)
    admin.create_tenant(core, "bench")
    admin.create_user(core, "bench", "u")
    s = core.session(admin.principal_for(core, "bench", "u"), "bench", "127.0.0.1")
    plain = root / "plain"
    plain.mkdir()
    block = os.urandom(CHUNK)
    size = large_mib * CHUNK
    mb = size / 1e6

    def gw_write() -> None:
        with s.open_write("/large.bin", expected_length=size) as w:
            for _ in range(large_mib):
                w.write(block)

    def gw_read() -> None:
        buf = bytearray(CHUNK)
        with s.open_read("/large.bin") as r:
            while r.readinto(buf):
                pass

    rows = []
    t_plain_w = timed(lambda: plain_write(plain / "large.bin", (block for _ in range(large_mib))))
    t_gw_w = timed(gw_write)
    os.sync()
    t_plain_r = timed(lambda: plain_read(plain / "large.bin"))
    t_gw_r = timed(gw_read)
    rows.append((f"{large_mib} MiB write", mb / t_gw_w, mb / t_plain_w, "MB/s"))
    rows.append((f"{large_mib} MiB read", mb / t_gw_r, mb / t_plain_r, "MB/s"))

    payload = os.urandom(4096)
    s.mkdir("/small")
    (plain / "small").mkdir()

    def gw_small_write(session, folder: str) -> None:  # type: ignore[no-untyped-def]
        for i in range(small):
            session.write_file(f"{folder}/f{i:05d}", payload)

    def gw_small_read(session, folder: str) -> None:  # type: ignore[no-untyped-def]
        for i in range(small):
            session.read_file(f"{folder}/f{i:05d}")

    cpu0 = os.times()
    t_sw = timed(lambda: gw_small_write(s, "/small"))
    core.audit.flush()
    cpu1 = os.times()
    t_sr = timed(lambda: gw_small_read(s, "/small"))
    core.audit.flush()
    cpu2 = os.times()
    t_pw = timed(lambda: [plain_write(plain / "small" / f"f{i:05d}", [payload])
                          for i in range(small)])
    t_pr = timed(lambda: [plain_read(plain / "small" / f"f{i:05d}") for i in range(small)])
    rows.append((f"{small} x 4 KiB write", small / t_sw, small / t_pw, "files/s"))
    rows.append((f"{small} x 4 KiB read", small / t_sr, small / t_pr, "files/s"))

    # the audit log's share: same loops with events dropped instead of stored
    s.mkdir("/noaudit")
    record, append = core.audit.record, core.audit.append
    core.audit.record = lambda ev: None  # type: ignore[method-assign]
    core.audit.append = lambda conn, evs: None  # type: ignore[method-assign]
    t_nw = timed(lambda: gw_small_write(s, "/noaudit"))
    t_nr = timed(lambda: gw_small_read(s, "/noaudit"))
    core.audit.record, core.audit.append = record, append  # type: ignore[method-assign]
    core.close()

    print(f"Lumanox core bench: {root} ({os.cpu_count()} cores), SQLite catalog, "
          "encryption on, fsync on every upload")
    print(f"{'measure':<24}{'gateway':>14}{'plain files':>14}{'ratio':>8}")
    for name, gw, ref, unit in rows:
        print(f"{name:<24}{gw:>10.0f} {unit:<4}{ref:>9.0f} {unit:<5}{gw / ref:>6.2f}x")
    def per_file(a: os.times_result, b: os.times_result) -> str:
        return (f"{(b.user - a.user) / small * 1e6:.0f} us user + "
                f"{(b.system - a.system) / small * 1e6:.0f} us system")

    print(f"CPU per small file (all threads, audit stored): write {per_file(cpu0, cpu1)}, "
          f"read {per_file(cpu1, cpu2)}")
    print(f"audit share, small writes: {t_sw:.2f} s with audit vs {t_nw:.2f} s without "
          f"({(t_sw - t_nw) / t_sw * 100:+.0f}% of the time)")
    print(f"audit share, small reads:  {t_sr:.2f} s with audit vs {t_nr:.2f} s without "
          f"({(t_sr - t_nr) / t_sr * 100:+.0f}% of the time)")


if __name__ == "__main__":
    main()
