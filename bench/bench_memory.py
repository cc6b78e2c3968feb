"""Memory of the whole ``lumanox-gateway serve`` process tree with default settings.

    .venv/bin/python bench/bench_memory.py [--files 200] [--clients 8] [--big-mib 256]

Starts ``serve`` (WebDAV + SFTP, default workers, threads and pools; only ports and paths
set) and sends traffic like the benchmarks' (``--files`` WebDAV PUTs and GETs of 4 KiB from
``--clients`` concurrent connections, a PROPFIND of the folder, one PUT and GET of
``--big-mib``, the same number of SFTP puts over one session), then prints RSS and PSS of
every process of the tree (supervisor, front-ends, workers) and the totals, after start
and after the traffic. PSS counts pages
shared between forked processes once; RSS counts them in every process (the brief's
budget is on RSS).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_tree import ServeRun, start_serve

PAYLOAD = os.urandom(4096)


ROLES = ("supervisor", "front-end", "worker")


def _tree(pid: int) -> list[tuple[int, int]]:
    """(pid, depth) of the process and its descendants, parents first."""
    out, todo = [], [(pid, 0)]
    while todo:
        p, depth = todo.pop(0)
        out.append((p, depth))
        kids = Path(f"/proc/{p}/task/{p}/children")
        if kids.exists():
            todo.extend((int(x), depth + 1) for x in kids.read_text().split())
    return out


def _kib(pid: int, field: str, source: str) -> int:
    for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def report(root_pid: int) -> tuple[float, float]:
    """Print the tree's RSS and PSS; (RSS MiB, PSS MiB)."""
    rss_total = pss_total = 0
    print(f"{'pid':>7} {'threads':>7} {'RSS MiB':>8} {'PSS MiB':>8}  role")
    for pid, depth in _tree(root_pid):
        try:
            rss, pss = _kib(pid, "VmRSS", "status"), _kib(pid, "Pss", "smaps_rollup")
            threads = _kib(pid, "Threads", "status")
        except OSError:
            continue
        rss_total, pss_total = rss_total + rss, pss_total + pss
        role = ROLES[min(depth, len(ROLES) - 1)]
        print(f"{pid:>7} {threads:>7} {rss / 1024:>8.1f} {pss / 1024:>8.1f}  {role}")
    print(f"{'total':>7} {'':>7} {rss_total / 1024:>8.1f} {pss_total / 1024:>8.1f}")
    return rss_total / 1024, pss_total / 1024


def small_files(run: ServeRun, files: int, clients: int) -> None:
    """PUT then GET ``files`` 4 KiB files from ``clients`` connections at once."""
    def client(k: int) -> None:
        conn = ServeRun(run.proc, run.base, run.webdav_port, run.sftp_port, run.client_key,
                        run.config)  # its own keep-alive connection
        names = [f"/m/f{i:04d}" for i in range(k, files, clients)]
        for name in names:
            assert conn.request("PUT", name, PAYLOAD)[0] in (201, 204)
        for name in names:
            assert conn.request("GET", name)[1] == PAYLOAD
        conn.http().close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))


def big_file(run: ServeRun, mib: int) -> None:
    block = os.urandom(1 << 20)
    c = run.http()
    c.putrequest("PUT", "/big.bin")
    c.putheader("Authorization", run.auth_header())
    c.putheader("Content-Length", str(mib << 20))
    c.endheaders()
    for _ in range(mib):
        c.send(block)
    resp = c.getresponse()
    resp.read()
    assert resp.status in (201, 204), resp.status
    c.request("GET", "/big.bin", headers={"Authorization": run.auth_header()})
    resp = c.getresponse()
    while resp.read(1 << 20):
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE",
                    help="extra environment of serve (e.g. MALLOC_ARENA_MAX=2)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmx-mem-") as tmp:
        extra = dict(v.split("=", 1) for v in args.env)
        run = start_serve(Path(tmp) / "serve", env=extra)
        try:
            print(f"cores: {os.cpu_count()}; after start:")
            report(run.proc.pid)
            assert run.request("MKCOL", "/m/")[0] == 201
            small_files(run, args.files, args.clients)
            assert run.request("PROPFIND", "/m/", headers={"Depth": "1"})[0] == 207
            if args.big_mib:
                big_file(run, args.big_mib)
            run.sftp_put_sync([(f"s{i:04d}", PAYLOAD) for i in range(args.files)])
            print(f"after {args.files} WebDAV PUTs + GETs ({args.clients} clients), a PROPFIND,"
                  f" {args.big_mib} MiB PUT + GET, {args.files} SFTP puts:")
            report(run.proc.pid)
        finally:
            run.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
