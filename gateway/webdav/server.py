"""Serve the WebDAV app with cheroot over TLS in N worker processes sharing the port
(SO_REUSEPORT). The supervisor validates everything first (configuration, certificate,
port, catalog) and fails with one line; each worker opens its own ``Access`` (over its own core)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.config import Config, load_config
from gateway.errors import GatewayError
from gateway.frontends import notify_ready, takeover
from gateway.names import is_loopback_host
from gateway.webdav import listener, proxied

PROG = "lumanox-gateway webdav"
MODERN_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
M_ARENA_MAX = -8
PR_SET_PDEATHSIG = 1


class StartupError(Exception):
    """A one-line reason why the server cannot start."""


@dataclass(frozen=True)
class Plan:
    host: str
    port: int
    tls: bool
    cert: Path | None
    key: Path | None
    workers: int
    threads: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"


def make_plan(cfg: Config) -> Plan:
    w = cfg.webdav
    if not w.enabled:
        raise StartupError("webdav.enabled is false in the configuration")
    if not w.tls and not is_loopback_host(w.host):
        raise StartupError(f"webdav.tls = false is only allowed on a loopback address, "
                           f"not {w.host}")
    cert = cfg.path(cfg.tls.cert_file) if w.tls else None
    key = cfg.path(cfg.tls.key_file) if w.tls else None
    if w.tls:
        tls_context(cert, key)  # fail now, in one line, rather than in every worker
    workers = w.workers or os.cpu_count() or 1
    return Plan(w.host, w.port, w.tls, cert, key, workers, max(4, w.threads))


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """Server context: TLS >= 1.2, forward-secret AEAD suites only."""
    assert cert is not None and key is not None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(MODERN_TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except FileNotFoundError:
        raise StartupError(f"TLS certificate or key not found ({cert}, {key}): run "
                           "`lumanox-gateway init` or set tls.cert_file / tls.key_file") from None
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(f"TLS certificate {cert} or key {key} is not usable: "
                           f"{getattr(exc, 'reason', None) or type(exc).__name__}") from None
    return ctx


def probe_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def limit_malloc_arenas() -> None:
    """MALLOC_ARENA_MAX=2 equivalent: many threads otherwise grow RSS per request."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


# --- worker -------------------------------------------------------------------------------
def run_worker(cfg: Config, plan: Plan, ready_fd: int) -> int:
    """One worker process: own Access (core), own cheroot server on the shared port."""
    from cheroot import wsgi

    from gateway.access import Access
    from gateway.webdav.app import build_app

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        access = Access.open(cfg, migrate=False)
    except Exception as exc:
        _report(ready_fd, f"cannot open the core: {_one_line(exc)}")
        return 1
    try:
        server = wsgi.Server((plan.host, plan.port), build_app(access), numthreads=plan.threads,
                             server_name="lumanox", reuse_port=True, timeout=30,
                             request_queue_size=128)
        server.version = server.software = "lumanox"  # no software versions anywhere
        server.error_log = _error_log  # type: ignore[method-assign]
        if plan.tls:
            server.ssl_adapter = _ssl_adapter(plan)
        server.prepare()
        proxied.install_listener(server, listener_limits(cfg), cfg.webdav)
    except Exception as exc:
        access.close()
        _report(ready_fd, f"cannot listen on {plan.host}:{plan.port}: {_one_line(exc)}")
        return 1
    thread = threading.Thread(target=server.serve, name="cheroot", daemon=True)
    thread.start()
    _report(ready_fd, "")
    while not stop.wait(1.0):
        if not thread.is_alive():
            break
    server.stop()
    access.close()
    return 0


def listener_limits(cfg: Config) -> listener.Limits:
    w = cfg.webdav
    return listener.Limits(
        handshake_timeout_s=w.handshake_timeout_s,
        request_head_timeout_s=w.request_head_timeout_s,
        keepalive_timeout_s=w.keepalive_timeout_s,
        max_header_bytes=w.max_header_bytes,
        max_connections_per_address=w.max_connections_per_address)


def _error_log(msg: str = "", level: int = 20, traceback: bool = False) -> None:
    """cheroot's connection chatter (clients dropping TLS handshakes) is not an error."""
    if level >= logging.ERROR:
        logging.getLogger("gateway.webdav").error("cheroot: %s", msg, exc_info=traceback)


def _ssl_adapter(plan: Plan):  # type: ignore[no-untyped-def]
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    adapter = BuiltinSSLAdapter(str(plan.cert), str(plan.key))
    adapter.context = tls_context(plan.cert, plan.key)
    return adapter


def _report(fd: int, error: str) -> None:
    try:
        os.write(fd, (f"err {error}" if error else "ok").encode("utf-8")[:900] + b"\n")
        os.close(fd)
    except OSError:
        pass


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, GatewayError | OSError) else type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


# --- supervisor ----------------------------------------------------------------------------
class Supervisor:
    """Forks the workers, restarts one that dies, stops them all on SIGTERM/SIGINT."""

    def __init__(self, cfg: Config, plan: Plan, stop: threading.Event) -> None:
        self.cfg, self.plan = cfg, plan
        self.children: dict[int, float] = {}
        self.stopping = False
        self.stop_requested = stop

    def spawn(self) -> tuple[int, int]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(r)
            code = 1
            try:
                _die_with_parent(os.getppid())
                code = run_worker(self.cfg, self.plan, w)
            finally:
                os._exit(code)
        os.close(w)
        self.children[pid] = time.monotonic()
        return pid, r

    def start(self) -> None:
        pipes = [self.spawn() for _ in range(self.plan.workers)]
        for _pid, r in pipes:
            msg = _read_line(r, 120.0)
            if msg != "ok":
                self.stop()
                raise StartupError(msg[4:] if msg.startswith("err ") else
                                   "a worker did not start in time")

    def stop(self) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                self.children.pop(pid, None)
        deadline = time.monotonic() + 15
        while self.children and time.monotonic() < deadline:
            self.reap(block=False)
            time.sleep(0.05)
        for pid in list(self.children):
            os.kill(pid, signal.SIGKILL)
            self.reap(block=True)

    def reap(self, *, block: bool) -> list[int]:
        dead = []
        for pid in list(self.children):
            done, _status = os.waitpid(pid, 0 if block else os.WNOHANG)
            if done:
                dead.append(pid)
                self.children.pop(pid, None)
        return dead

    def watch(self) -> int:
        stop = self.stop_requested
        while not stop.wait(0.5):
            for _pid in self.reap(block=False):
                print(f"{PROG}: a worker exited unexpectedly; starting a new one",
                      file=sys.stderr, flush=True)
                _new, r = self.spawn()
                msg = _read_line(r, 120.0)
                if msg != "ok":
                    print(f"{PROG}: {msg[4:] or 'worker failed'}", file=sys.stderr, flush=True)
                    self.stop()
                    return 1
        self.stop()
        return 0


def _read_line(fd: int, timeout: float) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace").strip()


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker if the supervisor dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    # SIGTERM may come at any moment, even while the workers start: never die half-way
    # (that would orphan workers); remember it and stop cleanly once they are up.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        cfg = load_config()
        plan = make_plan(cfg)
        if not takeover():  # a reload joins the running generation's port on purpose
            probe_port(plan.host, plan.port)
        from gateway.access import Access

        Access.open(cfg, migrate=None).close()  # migrations once, before the workers; fails closed
        limit_malloc_arenas()
        _preload_worker_modules()
        sup = Supervisor(cfg, plan, stop)
        sup.start()
    except (StartupError, GatewayError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
        return 2
    except Exception as exc:  # pragma: no cover - unexpected: still one line
        print(f"{PROG}: cannot start: {_one_line(exc)}", file=sys.stderr, flush=True)
        return 2
    print(f"{PROG}: listening on {plan.url} ({plan.workers} worker"
          f"{'s' if plan.workers != 1 else ''})", flush=True)
    notify_ready()
    return sup.watch()


# --- start-up time -------------------------------------------------------------------------
def _preload_worker_modules() -> None:
    """Import the app and cheroot once, before forking: workers start without importing."""
    import cheroot.wsgi  # noqa: F401

    import gateway.webdav.app  # noqa: F401
