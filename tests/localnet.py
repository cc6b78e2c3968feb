"""Loopback helpers for the test suite and the benchmarks (test support: not shipped)."""

from __future__ import annotations

import contextlib
import socket
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30, alive=None) -> None:  # type: ignore[no-untyped-def]
    """Wait until something accepts connections on 127.0.0.1:``port``.

    ``alive``, if given, is called between attempts and raises to stop waiting early
    (e.g. when the server process has already exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if alive is not None:
            alive()
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")
