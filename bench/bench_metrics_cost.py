"""What the metrics (or the alert evaluator, or both with notifications) cost: small-file
WebDAV ops/s of ``serve`` with the feature's ``enabled`` true vs false, and the metrics
observer's own cost per audited event.

    .venv/bin/python bench/bench_metrics_cost.py [--files 1000] [--clients 8] [--rounds 2]
        [--feature metrics|alerts|monitoring]   # monitoring: metrics + alerts + notify

Each round starts ``serve`` twice (metrics off, then on; 2 WebDAV workers), PUTs then GETs
``--files`` 4 KiB files from ``--clients`` keep-alive connections, and prints the ops/s of
each and the CPU time the whole serve process tree spent per operation. The ratios on/off
are printed per round and over all rounds (the target: at most 5 % slower, ops/s ratio
>= 0.95). Runs alternate (off/on, then on/off) so a busy machine hurts both alike; on a
shared machine the CPU per operation is the steadier figure. Then, in this process, the observer's
``event`` (what every operation pays) is timed alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_tree import PASSWORD, ServeRun, free_port, prepare_gateway

from gateway.cli.setup import ensure_tls_certificate

PAYLOAD = os.urandom(4096)


FEATURES = {"metrics": ("metrics",), "alerts": ("alerts",),
            "monitoring": ("metrics", "alerts", "notify")}


def switches(feature: str, enabled: bool) -> str:
    """The config sections that turn ``feature`` on or off (the others stay at defaults)."""
    value = "true" if enabled else "false"
    return "".join(f"[{section}]\nenabled = {value}\n" for section in FEATURES[feature])


def start(base: Path, enabled: bool, feature: str = "metrics") -> ServeRun:
    base.mkdir(parents=True)
    dav, sftp = free_port(), free_port()
    cert, key = base / "gw.crt", base / "gw.key"
    ensure_tls_certificate(cert, key)
    client_key = base / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(client_key)],
                   check=True)
    prepare_gateway(base, f"""{switches(feature, enabled)}[tls]
cert_file = "{cert}"
key_file = "{key}"
[webdav]
port = {dav}
workers = 2
[sftp]
port = {sftp}
workers = 1
""", (base / "client_key.pub").read_text(), password=PASSWORD)
    cfg = base / "gateway.toml"
    exe = str(Path(sys.executable).with_name("lumanox-gateway"))
    proc = subprocess.Popen([exe, "serve"], env=dict(os.environ, LUMANOX_CONFIG=str(cfg)),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for raw in proc.stdout:
        if b": ready" in raw:
            break
    else:
        raise RuntimeError(f"serve did not start (exit code {proc.wait()})")
    return ServeRun(proc, base, dav, sftp, client_key, cfg)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and every descendant."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            todo += [int(x) for x in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return total


def small_files(run: ServeRun, files: int, clients: int) -> tuple[float, float, float]:
    """PUT then GET ``files`` 4 KiB files; (PUT/s, GET/s, server CPU ms per operation)."""
    conns = [ServeRun(run.proc, run.base, run.webdav_port, run.sftp_port, run.client_key,
                      run.config) for _ in range(clients)]
    assert run.request("MKCOL", "/m/")[0] == 201

    def put(k: int) -> None:
        for i in range(k, files, clients):
            assert conns[k].request("PUT", f"/m/f{i:05d}", PAYLOAD)[0] in (201, 204)

    def get(k: int) -> None:
        for i in range(k, files, clients):
            assert conns[k].request("GET", f"/m/f{i:05d}")[1] == PAYLOAD

    rates = []
    cpu = tree_cpu(run.proc.pid)
    with ThreadPoolExecutor(clients) as pool:
        for work in (put, get):
            t = time.perf_counter()
            list(pool.map(work, range(clients)))
            rates.append(files / (time.perf_counter() - t))
    cpu = tree_cpu(run.proc.pid) - cpu
    for c in conns:
        c.http().close()
    return rates[0], rates[1], cpu / (2 * files) * 1000


def observer_cost(n: int = 200_000) -> float:
    """CPU microseconds per ``MetricsObserver.event`` (counters in a multiprocess folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tmp
        from gateway.audit import AuditEvent
        from gateway.metrics.observer import MetricsObserver

        obs = MetricsObserver()
        ev = AuditEvent(action="write", protocol="webdav", bytes=4096, duration_ms=2)
        obs.event(ev)
        t = time.process_time()
        for _ in range(n):
            obs.event(ev)
        return (time.process_time() - t) / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--feature", choices=sorted(FEATURES), default="metrics")
    args = ap.parse_args()
    totals = {False: [0.0, 0.0, 0.0], True: [0.0, 0.0, 0.0]}
    print(f"feature: {args.feature}; cores: {os.cpu_count()}; "
          f"load before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="lmx-metrics-") as tmp:
        for r in range(args.rounds):
            got = {}
            for enabled in ((False, True) if r % 2 == 0 else (True, False)):
                run = start(Path(tmp) / f"r{r}-{'on' if enabled else 'off'}", enabled,
                            args.feature)
                try:
                    got[enabled] = small_files(run, args.files, args.clients)
                finally:
                    run.stop()
                for i in (0, 1, 2):
                    totals[enabled][i] += got[enabled][i]
            off, on = got[False], got[True]
            print(f"round {r + 1}: PUT/s off {off[0]:.0f} on {on[0]:.0f} (ratio "
                  f"{on[0] / off[0]:.3f}); GET/s off {off[1]:.0f} on {on[1]:.0f} (ratio "
                  f"{on[1] / off[1]:.3f}); server CPU ms/op off {off[2]:.3f} on {on[2]:.3f}")
    off, on = totals[False], totals[True]
    print(f"all rounds: ops/s ratio on/off PUT {on[0] / off[0]:.3f}, GET {on[1] / off[1]:.3f} "
          f"(target >= 0.95); server CPU per op on/off {on[2] / off[2]:.3f} (target <= "
          f"1.05); load after: {os.getloadavg()[0]:.2f}")
    print(f"observer: {observer_cost():.2f} us per audited event (one per operation)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
