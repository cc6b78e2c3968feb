"""WebDAV throughput, side by side: the gateway (encryption at rest, HTTPS) against stock
wsgidav (FilesystemProvider on cheroot, no encryption), ``rclone serve webdav`` and Apache
httpd mod_dav, all over HTTPS on 127.0.0.1 with HTTP Basic auth; plus ``cheroot-null``, the
ceiling of the HTTP stack itself (cheroot + TLS, same worker count, a WSGI app that only
reads bodies and answers: no WebDAV, no storage).

    .venv/bin/python bench/bench_webdav.py            # 1 GiB, 2,000 x 4 KiB, 5,000 entries
    .venv/bin/python bench/bench_webdav.py --quick    # 64 MiB, 300 x 4 KiB, 1,000 entries

Measures: one large PUT and GET with curl; small PUTs and GETs with 1 and 8 concurrent
clients (separate client processes, keep-alive); PROPFIND Depth 1 of a large folder (time
and server RSS after each of 5 requests). Prints MB/s, requests/s, seconds, and the
gateway's ratio to each peer. Peers whose tool is missing are skipped with a note.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import multiprocessing as mp
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # test support: localnet
from localnet import free_port, wait_port  # noqa: E402 - after the path insert

USER, PASSWORD = "bench@bench", "bench-password-1"


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    user: str = USER
    password: str = PASSWORD
    prefix: str = ""
    make_entries: Callable[[int], str] | None = None  # creates N entries, returns folder URL
    pids: Callable[[], list[int]] = field(default=lambda: [])
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)  # more workers

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}{self.prefix}"

    def stop(self) -> None:
        for proc in (self.proc, *self.others):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def children(pid: int) -> list[int]:
    p = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in p.read_text().split()] if p.exists() else []


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


# --- servers -----------------------------------------------------------------------------
def start_gateway(work: Path, cert: Path, key: Path, workers: int) -> Server:
    from gateway import admin
    from gateway.config import load_config
    from gateway.core import Core
    from gateway.keyring import create_master_key_file

    base = work / "gateway"
    base.mkdir()
    port = free_port()
    cfg_path = base / "gateway.toml"
    cfg_path.write_text(f"""
[gateway]
data_dir = "data"
[audit]
log = "audit.jsonl"
[tls]
cert_file = "{cert}"
key_file = "{key}"
[webdav]
port = {port}
workers = {workers}
""")
    cfg = load_config(cfg_path)
    cfg.data_dir.mkdir(parents=True)
    create_master_key_file(cfg.master_key_file)
    with Core.open(cfg) as core:
        admin.create_tenant(core, "bench")
        admin.create_user(core, "bench", "bench", password=PASSWORD)
    env = dict(os.environ, LUMANOX_CONFIG=str(cfg_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "gateway.webdav"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if "listening" not in line:
        raise RuntimeError("gateway did not start: " + line)

    def entries(n: int) -> str:
        with Core.open(cfg) as core:
            s = core.session(admin.principal_for(core, "bench", "bench"), "bench", "127.0.0.1")
            s.mkdir("/many", exist_ok=True)
            for i in range(n):
                s.mkdir(f"/many/entry {i:05d}", exist_ok=True)
        return "/many/"

    return Server("gateway", port, proc, make_entries=entries,
                  pids=lambda: children(proc.pid))


def start_wsgidav(work: Path, cert: Path, key: Path) -> Server:
    root = work / "wsgidav-root"
    root.mkdir()
    port = free_port()
    script = work / "wsgidav_stock.py"
    script.write_text(f"""
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.wsgidav_app import WsgiDAVApp
app = WsgiDAVApp({{
    "provider_mapping": {{"/": FilesystemProvider({str(root)!r})}},
    "simple_dc": {{"user_mapping": {{"*": {{{USER!r}: {{"password": {PASSWORD!r}}}}}}}}},
    "http_authenticator": {{"accept_digest": False, "default_to_digest": False}},
    "property_manager": True, "lock_storage": True, "verbose": 1,
    "logging": {{"enable": False}},
}})
server = wsgi.Server(("127.0.0.1", {port}), app, numthreads=32)
server.ssl_adapter = BuiltinSSLAdapter({str(cert)!r}, {str(key)!r})
server.safe_start()
""")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)

    def entries(n: int) -> str:
        (root / "many").mkdir(exist_ok=True)
        for i in range(n):
            (root / "many" / f"entry {i:05d}").mkdir(exist_ok=True)
        return "/many/"

    return Server("wsgidav-stock", port, proc, make_entries=entries, pids=lambda: [proc.pid])


NULL_APP = """
import base64, hmac, sys
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
port, cert, key, user, password = sys.argv[1:6]
expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
sizes, block = {}, bytes(256 * 1024)

def app(environ, start_response):
    if not hmac.compare_digest(environ.get("HTTP_AUTHORIZATION", ""), expected):
        start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="x"'),
                                             ("Content-Length", "0")])
        return [b""]
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    if method == "PUT":
        body, n = environ["wsgi.input"], 0
        while chunk := body.read(256 * 1024):
            n += len(chunk)
        sizes[path] = n
        start_response("201 Created", [("Content-Length", "0")])
        return [b""]
    if method == "GET" and path in sizes:
        size = sizes[path]
        start_response("200 OK", [("Content-Length", str(size))])
        return (block[: min(len(block), size - off)] for off in range(0, size, len(block)))
    if method == "DELETE":
        sizes.pop(path, None)
    start_response("201 Created" if method == "MKCOL" else "204 No Content",
                   [("Content-Length", "0")])
    return [b""]

server = wsgi.Server(("127.0.0.1", int(port)), app, numthreads=32, reuse_port=True)
server.ssl_adapter = BuiltinSSLAdapter(cert, key)
server.safe_start()
"""


def start_null(work: Path, cert: Path, key: Path, workers: int) -> Server:
    """The ceiling of the HTTP stack the gateway is built on: cheroot + TLS with the same
    worker processes, a WSGI app that reads each body and answers, no WebDAV, no storage."""
    port = free_port()
    script = work / "cheroot_null.py"
    script.write_text(NULL_APP)
    procs = [subprocess.Popen([sys.executable, str(script), str(port), str(cert), str(key),
                               USER, PASSWORD], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
             for _ in range(workers or os.cpu_count() or 1)]
    wait_port(port)
    time.sleep(0.5)  # every worker listening
    return Server("cheroot-null", port, procs[0], pids=lambda: [p.pid for p in procs],
                  others=procs[1:])


def start_rclone(work: Path, cert: Path, key: Path) -> Server | None:
    exe = shutil.which("rclone")
    if not exe:
        return None
    root = work / "rclone-root"
    root.mkdir()
    port = free_port()
    proc = subprocess.Popen([exe, "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}",
                             "--cert", str(cert), "--key", str(key), "--user", USER,
                             "--pass", PASSWORD, "--dir-cache-time", "1s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)

    def entries(n: int) -> str:
        (root / "many").mkdir(exist_ok=True)
        for i in range(n):
            (root / "many" / f"entry {i:05d}").mkdir(exist_ok=True)
        time.sleep(2)  # let rclone's directory cache (1 s) see the new folder
        return "/many/"

    return Server("rclone-serve", port, proc, make_entries=entries, pids=lambda: [proc.pid])


def start_apache(work: Path, cert: Path, key: Path) -> Server | None:
    exe = shutil.which("apache2") or "/usr/sbin/apache2"
    mods = Path("/usr/lib/apache2/modules")
    if not Path(exe).exists() or not (mods / "mod_dav_fs.so").exists():
        return None
    base = work / "apache"
    www = base / "www"
    www.mkdir(parents=True)
    port = free_port()
    digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()  # noqa: S324
    (base / "users").write_text(f"{USER}:{{SHA}}{digest}\n")
    modules = ["mpm_event", "authz_core", "authn_core", "authn_file", "auth_basic", "authz_user",
               "dav", "dav_fs", "ssl", "socache_shmcb", "mime", "dir", "setenvif"]
    load = "\n".join(f"LoadModule {m}_module {mods}/mod_{m}.so" for m in modules)
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    (base / "httpd.conf").write_text(f"""
ServerRoot {base}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {base}/httpd.pid
ErrorLog {base}/error.log
LogLevel warn
{load}
{user}
TypesConfig /etc/mime.types
DAVLockDB {base}/davlock
SSLEngine on
SSLCertificateFile {cert}
SSLCertificateKeyFile {key}
SSLSessionCache shmcb:{base}/ssl_scache(512000)
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot {www}
<Directory {www}>
  Dav On
  AuthType Basic
  AuthName bench
  AuthUserFile {base}/users
  Require valid-user
  DirectoryIndex disabled
</Directory>
""")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "www-data:www-data", str(base)], check=True)
        for d in (work, base):
            os.chmod(d, 0o755)  # noqa: S103 - www-data must reach its document root
    env = dict(os.environ, APACHE_RUN_DIR=str(base), APACHE_LOCK_DIR=str(base),
               APACHE_LOG_DIR=str(base))
    proc = subprocess.Popen([exe, "-f", str(base / "httpd.conf"), "-DFOREGROUND"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, 15)
    except RuntimeError:
        proc.kill()
        print("  apache: did not start:", (proc.stderr.read() or b"").decode()[-500:])
        return None

    def entries(n: int) -> str:
        (www / "many").mkdir(exist_ok=True)
        for i in range(n):
            (www / "many" / f"entry {i:05d}").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "www-data:www-data", str(www)], check=True)
        return "/many/"

    return Server("apache-mod_dav", port, proc, make_entries=entries,
                  pids=lambda: [proc.pid, *children(proc.pid)])


# --- clients -------------------------------------------------------------------------------
def curl_time(args: list[str]) -> float:
    out = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                          *args], capture_output=True, text=True, check=True)
    code, seconds = out.stdout.split()
    if code not in ("200", "201", "204"):
        raise RuntimeError(f"curl got {code}")
    return float(seconds)


def big_file(server: Server, path: Path) -> tuple[float, float]:
    size = path.stat().st_size / 1e6
    auth = ["-u", f"{server.user}:{server.password}"]
    put = curl_time([*auth, "-T", str(path), f"{server.url}/big.bin"])
    get = curl_time([*auth, f"{server.url}/big.bin"])
    curl_time([*auth, "-X", "DELETE", f"{server.url}/big.bin"])
    return size / put, size / get


def _conn(port: int) -> http.client.HTTPSConnection:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)


def _small_worker(args: tuple[int, str, str, str, str, list[int], bytes]) -> int:
    port, prefix, auth, method, folder, indexes, payload = args
    conn = _conn(port)
    headers = {"Authorization": auth}
    errors = 0
    for i in indexes:
        path = f"{prefix}{folder}/f{i:05d}.bin"
        try:
            conn.request(method, path, body=payload if method == "PUT" else None,
                         headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 300:
                errors += 1
            if resp.will_close:
                conn.close()
                conn = _conn(port)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = _conn(port)
    conn.close()
    return errors


def small_files(server: Server, n: int, clients: int, pool: mp.pool.Pool) -> tuple[float, float]:
    auth = "Basic " + base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
    folder = f"/small-{clients}"
    c = _conn(server.port)
    c.request("MKCOL", server.prefix + folder, headers={"Authorization": auth})
    c.getresponse().read()
    c.close()
    payload = os.urandom(4096)
    rates = []
    for method in ("PUT", "GET"):
        chunks = [list(range(k, n, clients)) for k in range(clients)]
        jobs = [(server.port, server.prefix, auth, method, folder, ch, payload) for ch in chunks]
        t = time.monotonic()
        errors = sum(pool.map(_small_worker, jobs))
        elapsed = time.monotonic() - t
        if errors:
            print(f"  {server.name}: {errors} errors in {method} x{clients}")
        rates.append(n / elapsed)
    return rates[0], rates[1]


def propfind(server: Server, folder: str, repeats: int = 5) -> tuple[float, list[float]]:
    auth = "Basic " + base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
    times, mem = [], []
    for _ in range(repeats):
        c = _conn(server.port)
        t = time.monotonic()
        c.request("PROPFIND", server.prefix + folder, headers={"Authorization": auth,
                                                             "Depth": "1"})
        resp = c.getresponse()
        body, status = resp.read(), resp.status
        times.append(time.monotonic() - t)
        c.close()
        mem.append(rss_mib(server.pids()))
    count = len(re.findall(rb"<(?:\w+:)?href>", body, flags=re.IGNORECASE))
    if count < 2:
        print(f"  {server.name}: PROPFIND returned {count} entries (HTTP {status})")
    return min(times), mem


# --- main ----------------------------------------------------------------------------------
@contextlib.contextmanager
def servers(work: Path, workers: int) -> Iterator[list[Server]]:
    from gateway.cli.setup import ensure_tls_certificate

    cert, key = work / "certs" / "bench.crt", work / "certs" / "bench.key"
    ensure_tls_certificate(cert, key)
    started: list[Server] = []
    try:
        started.append(start_gateway(work, cert, key, workers))
        started.append(start_wsgidav(work, cert, key))
        started.append(start_null(work, cert, key, workers))
        for starter, label in ((start_rclone, "rclone"), (start_apache, "apache2 mod_dav")):
            s = starter(work, cert, key)
            if s is None:
                print(f"note: {label} not available; skipped")
            else:
                started.append(s)
        yield started
    finally:
        for s in started:
            s.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a minute or so)")
    ap.add_argument("--big-mib", type=int)
    ap.add_argument("--small", type=int)
    ap.add_argument("--entries", type=int)
    ap.add_argument("--workers", type=int, default=0, help="gateway workers (0: one per core)")
    ap.add_argument("--only", help="comma-separated tests: big,small,propfind")
    args = ap.parse_args()
    big_mib = args.big_mib or (64 if args.quick else 1024)
    n_small = args.small or (300 if args.quick else 2000)
    n_entries = args.entries or (1000 if args.quick else 5000)
    tests = set((args.only or "big,small,propfind").split(","))
    if not shutil.which("curl"):
        print("curl is required")
        return 2
    print(f"load before: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-webdav-") as tmp:
        work = Path(tmp)
        big = work / "big.bin"
        if "big" in tests:
            with big.open("wb") as f:
                block = os.urandom(1 << 20)
                for _ in range(big_mib):
                    f.write(block)
        with servers(work, args.workers) as srvs, mp.get_context("fork").Pool(8) as pool:
            for s in srvs:
                r = results.setdefault(s.name, {})
                print(f"-- {s.name}", flush=True)
                if "big" in tests:
                    r["put_MBps"], r["get_MBps"] = big_file(s, big)
                    print(f"  {big_mib} MiB PUT {r['put_MBps']:.0f} MB/s, "
                          f"GET {r['get_MBps']:.0f} MB/s", flush=True)
                if "small" in tests:
                    for clients in (1, 8):
                        put, get = small_files(s, n_small, clients, pool)
                        r[f"put4k_x{clients}"], r[f"get4k_x{clients}"] = put, get
                        print(f"  {n_small} x 4 KiB, {clients} client(s): PUT {put:.0f}/s, "
                              f"GET {get:.0f}/s", flush=True)
                if "propfind" in tests and s.make_entries is not None:
                    folder = s.make_entries(n_entries)
                    best, mem = propfind(s, folder)
                    r["propfind_s"] = best
                    r["propfind_rss_growth_MiB"] = mem[-1] - mem[1]
                    print(f"  PROPFIND Depth 1 of {n_entries}: {best:.2f} s; server RSS MiB "
                          f"after each request: {', '.join(f'{m:.0f}' for m in mem)}",
                          flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")
    gw = results.get("gateway", {})
    print("\nratios gateway / peer (higher is better; PROPFIND: peer time / gateway time)")
    for name, r in results.items():
        if name == "gateway":
            continue
        parts = []
        for k, v in r.items():
            if k in gw and v and "rss" not in k:
                ratio = v / gw[k] if k == "propfind_s" else gw[k] / v
                parts.append(f"{k} {ratio:.2f}x")
        print(f"  vs {name}: " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
