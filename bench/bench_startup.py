"""Start-up time of ``lumanox-gateway serve``: time until both ports accept, side by side
with peers started the same way, and the gap a restart leaves.

    .venv/bin/python bench/bench_startup.py                 # 7 rounds, 1 worker each
    .venv/bin/python bench/bench_startup.py --workers 0     # default workers (one per core)
    .venv/bin/python bench/bench_startup.py --compare-src DIR   # also another checkout

"Accept" means a client gets a real answer: a finished TLS handshake on the WebDAV port
and the SSH banner on the SFTP port (a bare TCP connect can succeed on a socket nobody
serves yet). Every round starts each server once, in turn (gateway, OpenSSH ``sshd -D``
on its own port, a stock wsgidav + cheroot TLS server, ``python -c pass``), so that they
share the machine's noise; the report gives median, min and max wall time, the CPU
seconds the server's process tree used until it accepted, and the gateway's ratio to each
peer. ``--compare-src`` runs another source tree (e.g. ``git archive OLD gateway | tar
-x -C DIR``) with this interpreter for a before/after in the same run.

Restart: a prober connects to both ports every few milliseconds while the gateway is
(a) stopped and started again, and (b) reloaded with SIGHUP; it reports how many attempts
were refused and the longest stretch without an answer.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # test support: localnet
from localnet import free_port  # noqa: E402 - after the path insert

TICK = os.sysconf("SC_CLK_TCK")
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


# --- probes ---------------------------------------------------------------------------------
def tls_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, \
                TLS.wrap_socket(raw):
            return True
    except OSError:
        return False


def ssh_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def tree_cpu(pid: int) -> float:
    """utime+stime (+ reaped children) of ``pid`` and every descendant, in seconds."""
    kids: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError, IndexError):
                f = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                stats[int(d)] = f
                kids.setdefault(int(f[1]), []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:
            total += sum(int(x) for x in stats[p][11:15])
        todo.extend(kids.get(p, []))
    return total / TICK


def time_until(cmd: list[str], probes: list[Callable[[], bool]], env: dict[str, str] | None,
               cwd: Path, timeout: float = 60.0) -> tuple[float, float]:
    """Start ``cmd`` in ``cwd`` (``-m`` puts the working directory first on sys.path);
    seconds until every probe succeeded, and the CPU seconds of its process tree then."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=cwd, preexec_fn=_priority)
    try:
        pending = list(probes)
        while pending:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode} before accepting")
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{' '.join(cmd)} did not accept within {timeout:.0f} s")
            pending = [p for p in pending if not p()]
            if pending:
                time.sleep(0.005)
        wall = time.perf_counter() - t0
        return wall, tree_cpu(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


NICE = [0]


def _priority() -> None:
    """In the child: the ``--nice`` adjustment (negative: ahead of the machine's other load)."""
    if NICE[0]:
        os.nice(NICE[0])


# --- the servers ----------------------------------------------------------------------------
@dataclass
class Subject:
    name: str
    start: Callable[[], tuple[float, float]]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


def gateway_setup(base: Path, workers: int, src: Path | None) -> tuple[dict[str, str], int, int]:
    wport, sport = free_port(), free_port()
    base.mkdir(parents=True)
    cfg = base / "gateway.toml"
    cfg.write_text(
        f'[gateway]\ndata_dir = "var"\n[audit]\nlog = "off"\n'
        f'[tls]\ncert_file = "certs/gw.crt"\nkey_file = "certs/gw.key"\n'
        f'[webdav]\nport = {wport}\nworkers = {workers}\n'
        f'[sftp]\nport = {sport}\nworkers = {workers}\n'
        f'host_keys = ["certs/ssh_host_ed25519_key", "certs/ssh_host_ecdsa_key"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env["LUMANOX_CONFIG"] = str(cfg)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    subprocess.run([sys.executable, "-m", "gateway", "init"], env=env, check=True,
                   capture_output=True, timeout=120, cwd=base)
    return env, wport, sport


def gateway_subject(name: str, base: Path, workers: int, src: Path | None) -> Subject:
    env, wport, sport = gateway_setup(base, workers, src)
    cmd = [sys.executable, "-m", "gateway", "serve"]
    return Subject(name, lambda: time_until(cmd, [lambda: tls_answers(wport),
                                                  lambda: ssh_answers(sport)], env, base))


def sshd_subject(base: Path) -> Subject | None:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd) or os.geteuid() != 0:
        print("  (OpenSSH peer skipped: needs sshd and root)")
        return None
    Path("/run/sshd").mkdir(exist_ok=True, mode=0o755)
    base.mkdir(parents=True)
    hk = base / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hk)], check=True)
    port = free_port()
    conf = base / "sshd_config"
    conf.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\n"
                    f"PidFile {base / 'sshd.pid'}\nUsePAM no\nPasswordAuthentication no\n"
                    f"Subsystem sftp internal-sftp\n")
    cmd = [sshd, "-D", "-e", "-f", str(conf)]
    return Subject("openssh sshd -D", lambda: time_until(cmd, [lambda: ssh_answers(port)],
                                                         None, base))


def wsgidav_subject(base: Path, cert: Path, key: Path) -> Subject:
    root = base / "root"
    root.mkdir(parents=True)
    port = free_port()
    script = base / "wsgidav_stock.py"
    script.write_text(f"""
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.wsgidav_app import WsgiDAVApp
app = WsgiDAVApp({{
    "provider_mapping": {{"/": FilesystemProvider({str(root)!r})}},
    "simple_dc": {{"user_mapping": {{"*": True}}}},
    "property_manager": True, "lock_storage": True, "verbose": 1,
    "logging": {{"enable": False}},
}})
server = wsgi.Server(("127.0.0.1", {port}), app, numthreads=10)
server.ssl_adapter = BuiltinSSLAdapter({str(cert)!r}, {str(key)!r})
server.safe_start()
""")
    cmd = [sys.executable, str(script)]
    return Subject("wsgidav stock (TLS)", lambda: time_until(cmd, [lambda: tls_answers(port)],
                                                             None, base))


def python_subject() -> Subject:
    def run() -> tuple[float, float]:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, preexec_fn=_priority)
        return time.perf_counter() - t0, 0.0

    return Subject("python -c pass", run)


# --- restart gap ---------------------------------------------------------------------------
class Prober:
    """Asks both ports for an answer every few ms; records refusals and the longest gap."""

    def __init__(self, wport: int, sport: int) -> None:
        self.checks = [lambda: tls_answers(wport), lambda: ssh_answers(sport)]
        self.attempts = self.failed = 0
        self.longest_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        failing_since: float | None = None
        while not self._stop.is_set():
            ok = True
            for check in self.checks:
                self.attempts += 1
                if not check():
                    self.failed += 1
                    ok = False
            now = time.perf_counter()
            if not ok and failing_since is None:
                failing_since = now
            elif ok and failing_since is not None:
                self.longest_gap = max(self.longest_gap, now - failing_since)
                failing_since = None
            time.sleep(0.003)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _serve(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=cwd, preexec_fn=_priority)


def _wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"serve did not print {prefix!r}")


def restart_gaps(base: Path, workers: int) -> None:
    env, wport, sport = gateway_setup(base, workers, None)
    proc = _serve(env, base)
    try:
        _wait_for_line(proc, "lumanox-gateway: ready")
        time.sleep(0.5)
        with Prober(wport, sport) as prober:  # (a) stop, then start again
            time.sleep(0.3)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            stopped = time.perf_counter() - t0
            proc = _serve(env, base)
            _wait_for_line(proc, "lumanox-gateway: ready")
            ready = time.perf_counter() - t0
            time.sleep(0.3)
        print(f"  stop + start:   {prober.failed:4d} of {prober.attempts:5d} probes failed, "
              f"longest gap {prober.longest_gap:.2f} s (stopped after {stopped:.2f} s, "
              f"ready again after {ready:.2f} s)")
        with Prober(wport, sport) as prober:  # (b) reload in place
            time.sleep(0.3)
            proc.send_signal(signal.SIGHUP)
            _wait_for_line(proc, "lumanox-gateway: reloaded")
            time.sleep(1.0)
        print(f"  SIGHUP reload:  {prober.failed:4d} of {prober.attempts:5d} probes failed, "
              f"longest gap {prober.longest_gap:.2f} s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


# --- main ------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="starts per server (1..50)")
    ap.add_argument("--workers", type=int, default=1,
                    help="workers per front-end (0 = the default, one per core)")
    ap.add_argument("--compare-src", type=Path, help="another source tree to time as well")
    ap.add_argument("--no-restart", action="store_true", help="skip the restart probes")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of every started server, e.g. -10 as root to approximate "
                         "a quiet machine on a busy one (applies to all subjects alike)")
    args = ap.parse_args()
    NICE[0] = args.nice
    rounds = max(1, min(50, args.rounds))
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        print(f"serve start-up, {rounds} rounds, workers={args.workers or 'default'}, "
              f"nice {args.nice}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        subjects = [gateway_subject("gateway serve", work / "gw", args.workers, None)]
        if args.compare_src:
            subjects.append(gateway_subject(f"gateway serve ({args.compare_src.name})",
                                            work / "gw-old", args.workers,
                                            args.compare_src.resolve()))
        sshd = sshd_subject(work / "sshd")
        if sshd:
            subjects.append(sshd)
        certs = work / "gw" / "certs"
        subjects.append(wsgidav_subject(work / "wsgidav", certs / "gw.crt", certs / "gw.key"))
        subjects.append(python_subject())
        for _ in range(rounds):
            for s in subjects:
                wall, cpu = s.start()
                s.walls.append(wall)
                s.cpus.append(cpu)
        gw = statistics.median(subjects[0].walls)
        print(f"  {'server':28s} {'median':>7s} {'min':>6s} {'max':>6s} {'CPU-s':>6s} "
              f"{'gateway/this':>12s}")
        for s in subjects:
            med = statistics.median(s.walls)
            print(f"  {s.name:28s} {med:7.3f} {min(s.walls):6.3f} {max(s.walls):6.3f} "
                  f"{statistics.median(s.cpus):6.2f} {gw / med:11.2f}x")
        print(f"  load after: {os.getloadavg()[0]:.1f}")
        if not args.no_restart:
            print("restart gaps (prober: TLS handshake + SSH banner every ~3 ms)")
            restart_gaps(work / "restart", args.workers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
