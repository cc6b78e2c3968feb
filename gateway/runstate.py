"""The pid file ``serve`` keeps while it runs: what ``status`` reads, and a lock.

``<data_dir>/serve.pid`` holds JSON (the supervisor's pid, when it started, and each
front-end's pid) and is locked (``flock``) by the running supervisor for its whole life.
A reader that can take the lock knows the file is stale (the supervisor died without
cleaning up). A second ``serve`` on the same data directory cannot take the lock and
refuses, naming the running pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config import Config
from gateway.errors import GatewayError

PID_FILE = "serve.pid"


def pid_file(config: Config) -> Path:
    return config.data_dir / PID_FILE


class AlreadyRunning(GatewayError):
    """Another ``serve`` holds the pid file of this data directory."""


class PidFile:
    """Held by ``serve``: ``acquire`` (or refuse), ``record`` the front-ends, ``release``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            state = read_state(self.path) or {}
            raise AlreadyRunning(
                f"a gateway is already serving this data directory (pid "
                f"{state.get('pid', '?')}, {self.path}): stop it first, or give this one "
                "its own gateway.data_dir") from None
        self._fd = fd
        self.record({})

    def record(self, front_ends: dict[str, dict[str, Any]]) -> None:
        """Write the supervisor's pid and each front-end's ``{"pid": ...}``."""
        assert self._fd is not None
        data = json.dumps({"pid": os.getpid(), "front_ends": front_ends,
                           "started": datetime.now(UTC).isoformat(timespec="seconds")})
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data.encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)  # closing drops the lock
        self._fd = None


def read_state(path: Path) -> dict[str, Any] | None:
    """The running supervisor's record, or None when no ``serve`` holds the file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: the supervisor is alive
            raw = os.pread(fd, 65536, 0)
            try:
                return json.loads(raw) if raw else {}
            except ValueError:
                return {}
        return None  # nobody holds it: a stale file
    finally:
        os.close(fd)


def pid_alive(pid: object) -> bool:
    """Whether a process with this pid exists (of any user)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def front_end_status(config: Config) -> dict[str, Any]:
    """Per front-end: configured (enabled and available), running (from the pid file),
    its address and pid; plus the supervisor's pid when one runs."""
    from gateway import sftp, webdav

    state = read_state(pid_file(config))
    running = (state or {}).get("front_ends", {})
    out: dict[str, Any] = {}
    # the admin API needs nothing optional (gateway.admin_api.AVAILABLE is always true)
    for name, available in (("webdav", webdav.AVAILABLE), ("sftp", sftp.AVAILABLE),
                            ("admin_api", True)):
        section = getattr(config, name)
        pid = (running.get(name) or {}).get("pid")
        out[name] = {"configured": bool(available and section.enabled),
                     "running": state is not None and pid_alive(pid),
                     "address": f"{section.host}:{section.port}",
                     "pid": pid if state is not None else None}
    out["serve_pid"] = state.get("pid") if state else None
    return out
