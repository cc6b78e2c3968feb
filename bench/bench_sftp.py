"""SFTP throughput, side by side: the gateway (encryption at rest, N workers) against
OpenSSH sshd with internal-sftp (temp config, own port), ``rclone serve sftp`` and a
minimal asyncssh SFTP server, all on local disk on 127.0.0.1. Client: OpenSSH ``sftp -b``
with an Ed25519 key, once per cipher (aes128-gcm, chacha20-poly1305).

    .venv/bin/python bench/bench_sftp.py            # 1 GiB, 8 x 64 MiB, 500 x 4 KiB, 5,000 entries
    .venv/bin/python bench/bench_sftp.py --quick    # 128 MiB, 8 x 8 MiB, 100 x 4 KiB, 1,000
    .venv/bin/python bench/bench_sftp.py --only small --rounds 5 --small 200   # interleaved

Reports MB/s (files/s, seconds), server CPU-seconds per GB (whole process tree, reaped
children included), peak server RSS (sampled), the gateway's ratio to each peer, and the
RSS of 200 idle authenticated gateway sessions. Peers whose tool is missing are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sftp_servers import (
    RssSampler,
    Server,
    start_asyncssh,
    start_gateway,
    start_openssh,
    start_rclone,
    tree_cpu,
    tree_pss,
    tree_rss,
)

CIPHERS = ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com")
MiB = 1024 * 1024
# --- client workloads --------------------------------------------------------------------
@dataclass
class Client:
    key: Path
    tmp: Path

    def sftp(self, srv: Server, cipher: str, commands: str) -> subprocess.Popen[bytes]:
        args = ["sftp", "-q", "-o", "StrictHostKeyChecking=no", "-o",
                "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o",
                f"Ciphers={cipher}", "-o", "IdentitiesOnly=yes", "-i", str(self.key),
                "-P", str(srv.port), "-b", "-", f"{srv.login}@127.0.0.1"]
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        assert p.stdin is not None
        p.stdin.write(commands.encode())
        p.stdin.close()
        return p

    def run(self, srv: Server, cipher: str, commands: list[str]) -> float:
        """Run one sftp process per command list entry, in parallel; wall seconds."""
        t0 = time.perf_counter()
        procs = [self.sftp(srv, cipher, c) for c in commands]
        for p in procs:
            p.wait()
            if p.returncode != 0:
                err = p.stderr.read().decode() if p.stderr else ""
                raise RuntimeError(f"{srv.name}: sftp failed: {err[-500:]}")
        return time.perf_counter() - t0


@dataclass
class Result:
    value: float  # MB/s or files/s or seconds
    unit: str
    cpu_per_gb: float | None
    peak_rss: int
    extra: dict[str, float] = field(default_factory=dict)


def measure(srv: Server, fn, nbytes: int) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    cpu0 = tree_cpu(srv.proc.pid)
    with RssSampler(srv.proc.pid) as rss:
        secs = fn()
    time.sleep(0.3)  # let per-connection processes be reaped
    cpu = tree_cpu(srv.proc.pid) - cpu0
    return secs, (cpu / (nbytes / 1e9) if nbytes else cpu), rss.peak


def workloads(c: Client, srv: Server, cipher: str, sizes: dict[str, int],
              files: dict[str, Path], only: set[str]) -> dict[str, Result]:
    out: dict[str, Result] = {}
    tag = f"{srv.name}-{cipher[:6]}"
    if "streams" in only:
        out.update(stream_workloads(c, srv, cipher, sizes, files, tag))
    return out


def small_puts(c: Client, servers: list[Server], cipher: str, n: int, small: Path,
               rounds: int) -> dict[str, Result]:
    """``n`` sequential 4 KiB puts per server, in ``rounds`` rounds that visit every server
    in turn (a shift of the machine's load hits all of them alike); the median files/s,
    its server CPU per file, and the median of the per-round ratios to each peer."""
    runs: dict[str, list[tuple[float, float, int]]] = {s.name: [] for s in servers}
    for r in range(rounds):
        for srv in servers:
            tag = f"{srv.name}-{cipher[:6]}-r{r}"
            cmds = f"mkdir {tag}s\n" + "".join(f"put {small} {tag}s/{i}\n" for i in range(n))
            secs, cpu, rss = measure(srv, lambda srv=srv, cmds=cmds: c.run(srv, cipher, [cmds]), 0)
            runs[srv.name].append((n / secs, cpu / n * 1000, rss))
    out = {}
    for name, rows in runs.items():
        extra = {"cpu ms/file": statistics.median(r[1] for r in rows)}
        for peer, peer_rows in runs.items():
            if name == "gateway" and peer != name:
                extra[f"round ratio vs {peer}"] = statistics.median(
                    a[0] / b[0] for a, b in zip(rows, peer_rows, strict=True))
        out[name] = Result(statistics.median(r[0] for r in rows), "files/s", None,
                           max(r[2] for r in rows), extra)
    return out


def stream_workloads(c: Client, srv: Server, cipher: str, sizes: dict[str, int],
                     files: dict[str, Path], tag: str) -> dict[str, Result]:
    out: dict[str, Result] = {}
    big, nbig = files["big"], sizes["big"]
    secs, cpu, rss = measure(srv, lambda: c.run(srv, cipher, [f"put {big} {tag}.big\n"]), nbig)
    out["put 1 stream"] = Result(nbig / MiB / secs, "MB/s", cpu, rss)
    dst = c.tmp / f"{tag}.back"
    secs, cpu, rss = measure(srv, lambda: c.run(srv, cipher, [f"get {tag}.big {dst}\n"]), nbig)
    out["get 1 stream"] = Result(nbig / MiB / secs, "MB/s", cpu, rss)
    dst.unlink()
    par, npar = files["par"], sizes["par"]
    cmds = [f"put {par} {tag}.p{i}\n" for i in range(8)]
    secs, cpu, rss = measure(srv, lambda: c.run(srv, cipher, cmds), 8 * npar)
    out["put 8 clients"] = Result(8 * npar / MiB / secs, "MB/s", cpu, rss)
    return out


def listing(c: Client, srv: Server, n: int) -> Result:
    srv.populate(n)  # type: ignore[operator]
    time.sleep(1.5)  # rclone's directory cache
    secs, _cpu, rss = measure(srv, lambda: c.run(srv, CIPHERS[0], ["ls -l list\n"]), 0)
    return Result(secs, "s", None, rss)


async def idle_sessions(srv: Server, key: Path, n: int) -> tuple[int, int, int, int]:
    """RSS and PSS of the gateway tree before and with ``n`` idle authenticated sessions."""
    import asyncssh

    before, pss_before = tree_rss(srv.proc.pid), tree_pss(srv.proc.pid)
    conns = []
    for _ in range(n):
        conn = await asyncssh.connect("127.0.0.1", srv.port, username=srv.login,
                                      client_keys=[str(key)], known_hosts=None)
        await conn.start_sftp_client()
        conns.append(conn)
    await asyncio.sleep(1)
    during, pss_during = tree_rss(srv.proc.pid), tree_pss(srv.proc.pid)
    for conn in conns:
        conn.close()
    return before, during, pss_before, pss_during


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=0, help="gateway workers (0 = cores)")
    ap.add_argument("--only", default="streams,small,list,idle",
                    help="comma-separated workloads: streams,small,list,idle")
    ap.add_argument("--rounds", type=int, default=1,
                    help="small puts: rounds visiting every server in turn (medians)")
    ap.add_argument("--small", type=int, default=0, help="small puts per round (0: 500, "
                    "100 with --quick)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    sizes = ({"big": 128 * MiB, "par": 8 * MiB, "small": 100, "list": 1000} if args.quick
             else {"big": 1024 * MiB, "par": 64 * MiB, "small": 500, "list": 5000})
    sizes["small"] = args.small or sizes["small"]
    base = Path(tempfile.mkdtemp(prefix="bench-sftp-"))
    servers: list[Server] = []
    try:
        key = base / "client_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
        pub = (base / "client_key.pub").read_text()
        files = {"big": base / "big.bin", "par": base / "par.bin", "small": base / "s.bin"}
        for name, size in (("big", sizes["big"]), ("par", sizes["par"])):
            with files[name].open("wb") as f:
                for _ in range(size // MiB):
                    f.write(os.urandom(MiB))
        files["small"].write_bytes(os.urandom(4096))
        print(f"load before: {os.getloadavg()}; cores: {os.cpu_count()}")
        gw = start_gateway(base / "gw", pub, args.workers)
        servers.append(gw)
        for make in (start_openssh, start_rclone, start_asyncssh):
            d = base / make.__name__
            d.mkdir()
            s = make(d, pub)
            if s is not None:
                servers.append(s)
        time.sleep(1)
        idle = (asyncio.run(idle_sessions(gw, key, 200))  # on a fresh gateway
                if "idle" in only else None)
        client = Client(key, base)
        table: dict[tuple[str, str], dict[str, Result]] = {}
        for cipher in CIPHERS:
            for srv in servers:
                print(f"  {srv.name} {cipher} ...", flush=True)
                table[(srv.name, cipher)] = workloads(client, srv, cipher, sizes, files, only)
            if "small" in only:
                print(f"  small puts {cipher}, {args.rounds} round(s) ...", flush=True)
                smalls = small_puts(client, servers, cipher, sizes["small"], files["small"],
                                    args.rounds)
                for name, result in smalls.items():
                    table[(name, cipher)][f"{sizes['small']} x 4 KiB puts"] = result
        lists = ({srv.name: listing(client, srv, sizes["list"]) for srv in servers}
                 if "list" in only else {})
        report(table, lists, servers, sizes, idle)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"load after: {os.getloadavg()}")
    return 0


def report(table: dict[tuple[str, str], dict[str, Result]], lists: dict[str, Result],
           servers: list[Server], sizes: dict[str, int],
           idle: tuple[int, int, int, int] | None) -> None:
    names = [s.name for s in servers]
    peers = [n for n in names if n != "gateway"]
    print(f"\nSFTP benchmark (big={sizes['big'] // MiB} MiB, 8 x {sizes['par'] // MiB} MiB, "
          f"{sizes['small']} x 4 KiB, list {sizes['list']}); gateway = encryption at rest")
    for cipher in CIPHERS:
        if not table[("gateway", cipher)]:  # only the listing and/or idle sessions
            continue
        print(f"\n[{cipher}]")
        print(f"{'workload':<18}" + "".join(f"{n:>24}" for n in names)
              + "".join(f"{'gw/' + p:>12}" for p in peers))
        for wl in table[("gateway", cipher)]:
            row = f"{wl:<18}"
            for n in names:
                r = table[(n, cipher)][wl]
                cpu = f" {r.cpu_per_gb:4.1f}cs/GB" if r.cpu_per_gb is not None else ""
                row += f"{r.value:>9.1f} {r.unit:<7}{cpu:>8}"
            g = table[("gateway", cipher)][wl].value
            for p in peers:
                row += f"{g / table[(p, cipher)][wl].value:>12.2f}"
            print(row)
        for wl, result in table[("gateway", cipher)].items():
            if result.extra:
                print(f"  {wl}: " + ", ".join(
                    f"{n} {table[(n, cipher)][wl].extra['cpu ms/file']:.2f}" for n in names)
                    + " server CPU ms/file; gateway " + ", ".join(
                    f"{k} {v:.2f}" for k, v in result.extra.items() if k.startswith("round")))
        print(f"{'peak RSS MiB':<18}" + "".join(
            f"{max(r.peak_rss for r in table[(n, cipher)].values()) / MiB:>24.0f}" for n in names))
    if lists:
        print(f"\nlisting {sizes['list']} entries (ls -l), seconds: "
              + ", ".join(f"{n} {lists[n].value:.2f}" for n in names)
              + " | gateway speed ratio: "
              + ", ".join(f"vs {p} {lists[p].value / lists['gateway'].value:.2f}"
                          for p in peers))
    if idle is None:
        return
    before, during, pss_before, pss_during = idle
    print(f"200 idle authenticated sessions (fresh gateway, supervisor + workers): "
          f"RSS {before / MiB:.0f} -> {during / MiB:.0f} MiB (+{(during - before) / MiB:.0f}), "
          f"PSS {pss_before / MiB:.0f} -> {pss_during / MiB:.0f} MiB "
          f"(+{(pss_during - pss_before) / MiB:.0f})")
    print("cs/GB = server CPU-seconds per GB transferred (process tree)")


if __name__ == "__main__":
    sys.exit(main())
