"""Serve the admin API with cheroot, over TLS with the gateway's certificate (as WebDAV),
in one process with ``admin_api.threads`` request threads, behind WebDAV's listener
(``gateway.webdav.listener``: deadlines for handshakes, request heads and idle
connections; a cap on connections per address). Refuses to start with one line
(plain HTTP off loopback, unusable certificate, port taken)."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from gateway.config import Config, load_config
from gateway.errors import GatewayError
from gateway.frontends import notify_ready, takeover
from gateway.names import is_loopback_host
from gateway.webdav import listener
from gateway.webdav.server import StartupError, probe_port, tls_context

PROG = "lumanox-gateway admin_api"
MAX_HEADER_BYTES = 16384  # request line + headers; larger: 431


def check_config(cfg: Config) -> None:
    a = cfg.admin_api
    if not a.enabled:
        raise StartupError("admin_api.enabled is false in the configuration")
    if not a.tls and not is_loopback_host(a.host):
        raise StartupError(f"admin_api.tls = false is only allowed on a loopback address, "
                           f"not {a.host}")
    if a.tls:
        tls_context(cfg.path(cfg.tls.cert_file), cfg.path(cfg.tls.key_file))
    if not 1 <= a.threads <= 256 or not 1024 <= a.max_body_bytes <= 64 * 1024 * 1024 \
            or not 1 <= a.request_timeout_s <= 600:
        raise StartupError("admin_api: threads must be 1-256, max_body_bytes 1024-67108864, "
                           "request_timeout_s 1-600")


def make_server(cfg: Config, core):  # type: ignore[no-untyped-def]
    """The cheroot server (bound, not yet serving)."""
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    from gateway.admin_api.app import build_app

    a = cfg.admin_api
    server = wsgi.Server((a.host, a.port), build_app(core, a.max_body_bytes),
                         numthreads=a.threads, server_name="lumanox", reuse_port=True,
                         timeout=a.request_timeout_s, request_queue_size=64)
    server.version = server.software = "lumanox"  # no software versions anywhere
    server.error_log = _error_log  # type: ignore[method-assign]
    if a.tls:
        cert, key = cfg.path(cfg.tls.cert_file), cfg.path(cfg.tls.key_file)
        adapter = BuiltinSSLAdapter(str(cert), str(key))
        adapter.context = tls_context(cert, key)
        server.ssl_adapter = adapter
    server.prepare()
    # WebDAV's front door: handshakes and request heads under deadlines in the selector
    # thread, so slow or silent clients never hold a request thread
    listener.install(server, listener.Limits(
        handshake_timeout_s=min(10, a.request_timeout_s),
        request_head_timeout_s=a.request_timeout_s, keepalive_timeout_s=30,
        max_header_bytes=MAX_HEADER_BYTES, max_connections_per_address=64))
    return server


def _error_log(msg: str = "", level: int = 20, traceback: bool = False) -> None:
    """cheroot's connection chatter (readiness probes, dropped handshakes) is not an error."""
    if level >= logging.ERROR:
        logging.getLogger("gateway.admin_api").error("cheroot: %s", msg, exc_info=traceback)


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from gateway.core import Core

    try:
        cfg = load_config()
        check_config(cfg)
        if not takeover():
            probe_port(cfg.admin_api.host, cfg.admin_api.port)
        core = Core.open(cfg, migrate=False)
    except (StartupError, GatewayError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
        return 2
    from gateway.metrics.process import install

    counting = install(core)  # under serve with metrics on: the API's calls count too
    try:
        server = make_server(cfg, core)
    except Exception as exc:
        if counting is not None:
            counting.close()
        core.close()
        print(f"{PROG}: cannot listen on {cfg.admin_api.host}:{cfg.admin_api.port}: "
              f"{exc}", file=sys.stderr, flush=True)
        return 2
    thread = threading.Thread(target=server.serve, name="cheroot", daemon=True)
    thread.start()
    scheme = "https" if cfg.admin_api.tls else "http"
    print(f"{PROG}: listening on {scheme}://{cfg.admin_api.host}:{cfg.admin_api.port}/",
          flush=True)
    notify_ready()
    while not stop.wait(0.5):
        if not thread.is_alive():
            break
    server.stop()
    if counting is not None:
        counting.close()
    core.close()
    return 0
