"""What the metrics (or the alert evaluator, or both with notifications) cost: small-file
WebDAV ops/s of ``serve`` with the feature's ``enabled`` true vs false, and the metrics
observer's own cost per audited event.

    .venv/bin/python bench/bench_metrics_cost.py [--files 2000] [--clients 8] [--segments 10]
        [--feature metrics|alerts|monitoring]   # monitoring: metrics + alerts + notify

Both gateways run side by side (``--workers`` WebDAV workers each, one with the feature off, one
with it on), are warmed up (1,000 files, not counted: a cold first run was up to 30 %
slower), then take turns in ``--segments`` segments (off/on, then on/off, ...), each
PUTting then GETting ``--files`` 4 KiB files from ``--clients`` keep-alive connections
and waiting 3 s for the jobs' rounds over its events; only one gateway has traffic at a
time. Interleaving short segments cancels the drift of a shared machine that made whole
runs differ by +-15 %. Printed per segment and over all: the ops/s of each and the CPU
time the whole serve process tree spent per operation, the ratios on/off (the target: at
most 5 % slower, ops/s ratio >= 0.95), with the share of the server's CPU that the
feature's own job threads in the supervisor (the alert evaluator, the notification
watcher and dispatcher: named threads, read from /proc) spent: the cost of the
evaluation itself. Then, in this process, the observer's ``event`` (what every operation
pays) is timed alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def start(base: Path, enabled: bool, feature: str = "metrics", workers: int = 2) -> ServeRun:
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
workers = {workers}
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


#: the supervisor's job threads a feature runs (gateway/supervisor_jobs.py names them)
JOB_THREADS = {"alerts": ("alerts",), "notify": ("notify-watch", "notify-dispatch")}


def job_threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of each named job thread of the supervisor ``pid``."""
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if any(name in names for names in JOB_THREADS.values()):
            out[name] = out.get(name, 0.0) + \
                (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def small_files(run: ServeRun, files: int, clients: int,
                folder: str = "m") -> tuple[float, float, float, float]:
    """PUT then GET ``files`` 4 KiB files; (PUT/s, GET/s, server CPU ms per operation,
    the share of that CPU the feature's own job threads in the supervisor spent)."""
    conns = [ServeRun(run.proc, run.base, run.webdav_port, run.sftp_port, run.client_key,
                      run.config) for _ in range(clients)]
    if run._http is not None:  # idle since the last segment: the server may have closed it
        run._http.close()
        run._http = None
    assert run.request("MKCOL", f"/{folder}/")[0] == 201

    def put(k: int) -> None:
        for i in range(k, files, clients):
            assert conns[k].request("PUT", f"/{folder}/f{i:05d}", PAYLOAD)[0] in (201, 204)

    def get(k: int) -> None:
        for i in range(k, files, clients):
            assert conns[k].request("GET", f"/{folder}/f{i:05d}")[1] == PAYLOAD

    rates = []
    cpu, jobs = tree_cpu(run.proc.pid), sum(job_threads_cpu(run.proc.pid).values())
    with ThreadPoolExecutor(clients) as pool:
        for work in (put, get):
            t = time.perf_counter()
            list(pool.map(work, range(clients)))
            rates.append(files / (time.perf_counter() - t))
    time.sleep(3)  # the jobs' rounds over the last events (their cost counts too)
    cpu = tree_cpu(run.proc.pid) - cpu
    jobs = sum(job_threads_cpu(run.proc.pid).values()) - jobs
    for c in conns:
        c.http().close()
    return rates[0], rates[1], cpu / (2 * files) * 1000, jobs / cpu


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
    ap.add_argument("--files", type=int, default=2000, help="files per segment")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--segments", type=int, default=10,
                    help="segments per gateway, interleaved off/on, on/off, ...")
    ap.add_argument("--feature", choices=sorted(FEATURES), default="metrics")
    ap.add_argument("--workers", type=int, default=2,
                    help="WebDAV workers (1: no uneven spread of the connections over "
                    "SO_REUSEPORT workers, the largest noise with 2)")
    args = ap.parse_args()
    totals = {False: [0.0, 0.0, 0.0, 0.0], True: [0.0, 0.0, 0.0, 0.0]}
    ratios: list[tuple[float, float]] = []
    print(f"feature: {args.feature}; WebDAV workers: {args.workers}; cores: {os.cpu_count()}; "
          f"load before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="lmx-metrics-") as tmp:
        runs = {enabled: start(Path(tmp) / ("on" if enabled else "off"), enabled,
                               args.feature, args.workers) for enabled in (False, True)}
        try:
            for run in runs.values():
                small_files(run, min(1000, args.files), args.clients, "warm-up")
            for seg in range(args.segments):
                got = {}
                for enabled in ((False, True) if seg % 2 == 0 else (True, False)):
                    got[enabled] = small_files(runs[enabled], args.files, args.clients,
                                               f"s{seg}")
                    for i in (0, 1, 2, 3):
                        totals[enabled][i] += got[enabled][i]
                off, on = got[False], got[True]
                ratios.append((on[0] / off[0], on[1] / off[1]))
                print(f"segment {seg + 1}: PUT/s off {off[0]:.0f} on {on[0]:.0f} (ratio "
                      f"{on[0] / off[0]:.3f}); GET/s off {off[1]:.0f} on {on[1]:.0f} (ratio "
                      f"{on[1] / off[1]:.3f}); server CPU ms/op off {off[2]:.3f} on "
                      f"{on[2]:.3f}; job threads {on[3]:.2%} of the server's CPU", flush=True)
        finally:
            for run in runs.values():
                run.stop()
    off, on = totals[False], totals[True]
    print(f"all segments: ops/s ratio on/off PUT {on[0] / off[0]:.3f}, GET "
          f"{on[1] / off[1]:.3f} (median of segments {statistics.median(r[0] for r in ratios):.3f}"
          f", {statistics.median(r[1] for r in ratios):.3f}; target >= 0.95); server CPU per "
          f"op on/off {on[2] / off[2]:.3f} (target <= 1.05); the feature's job threads "
          f"(alerts, notify) spent {on[3] / args.segments:.2%} of the server's CPU; load "
          f"after: {os.getloadavg()[0]:.2f}")
    print(f"observer: {observer_cost():.2f} us per audited event (one per operation)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
