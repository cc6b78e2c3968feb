"""The live part of ``status``: is each enabled listener answering, how many sessions are
open now (from the metrics of the running gateway), the latest failures (from the audit
catalog) and how long ``serve`` has been up."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway.catalog.tables import audit_events
from gateway.config import Config
from gateway.core import Core
from gateway.metrics.exposition import MetricsUnavailable, sample_sums
from gateway.runstate import pid_file, read_state

PROBE_TIMEOUT_S = 3.0
PROBLEMS = ("error", "denied")
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def _reply(host: str, port: int, tls: bool, request: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as raw:
        sock: socket.socket = raw
        if tls:  # reachability only: the certificate is the admin's to check
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(raw, server_hostname=host)
        if request:
            sock.sendall(request)
        data = b""
        while b"\n" not in data and len(data) < 512:
            chunk = sock.recv(512)
            if not chunk:
                break
            data += chunk
        with contextlib.suppress(OSError):
            sock.close()
        return data


def probe(name: str, host: str, port: int, tls: bool = False) -> dict[str, Any]:
    """Whether the listener answers like itself: WebDAV an anonymous OPTIONS with an HTTP
    status line, SFTP its SSH banner (the probe sends nothing after it: nothing audited)."""
    target = _WILDCARDS.get(host, host)
    started = time.perf_counter()
    try:
        if name == "webdav":
            reply = _reply(target, port, tls, b"OPTIONS / HTTP/1.1\r\nHost: status\r\n"
                                              b"Connection: close\r\n\r\n")
            up = reply.startswith(b"HTTP/1.")
        else:
            reply = _reply(target, port, False, b"")
            up = reply.startswith(b"SSH-2.0-")
        detail = "answering" if up else "unexpected answer"
    except (OSError, ssl.SSLError) as exc:
        up, detail = False, getattr(exc, "strerror", None) or type(exc).__name__
    return {"address": f"{host}:{port}", "up": up, "detail": detail,
            "probe_ms": round((time.perf_counter() - started) * 1000, 1)}


def listeners(config: Config) -> dict[str, Any]:
    out = {}
    for name in ("webdav", "sftp"):
        section = getattr(config, name)
        if section.enabled:
            out[name] = probe(name, section.host, section.port,
                              tls=name == "webdav" and config.webdav.tls)
    return out


def recent_problems(core: Core, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` latest error/denied events, newest first."""
    if limit <= 0:
        return []
    c = audit_events.c
    q = (select(c.ts, c.protocol, c.action, c.result, c.tenant, c.user, c.path, c.reason)
         .where(c.result.in_(PROBLEMS)).order_by(c.ts.desc(), c.id.desc()).limit(limit))
    with core.catalog.read() as conn:
        rows = conn.execute(q).mappings().all()
    return [{**row, "ts": _iso(row["ts"])} for row in rows]


def _iso(ts: datetime) -> str:
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def live_status(core: Core) -> dict[str, Any]:
    """Listeners, sessions now, latest failures and uptime of the gateway on this data
    directory (sessions and uptime are None when no ``serve`` runs)."""
    config = core.config
    state = read_state(pid_file(config))
    uptime = None
    if state and state.get("started"):
        started = datetime.fromisoformat(state["started"])
        uptime = int((datetime.now(UTC) - started).total_seconds())
    sessions: dict[str, int] | None = None
    if state is not None:
        try:
            sums = sample_sums(config, "lumanox_sessions_open", "protocol")
            sessions = {p: int(sums.get(p, 0)) for p in sorted({"webdav", "sftp", *sums})}
        except MetricsUnavailable:
            sessions = None
    return {"serving": state is not None, "uptime_s": uptime,
            "listeners": listeners(config), "sessions": sessions,
            "recent_problems": recent_problems(core, config.metrics.status_errors)}
