"""systemd's readiness protocol (``Type=notify``), without a dependency.

When a service manager sets ``$NOTIFY_SOCKET``, ``serve`` sends ``READY=1`` once every
front-end accepts connections, ``RELOADING=1`` / ``READY=1`` around a SIGHUP reload and
``STOPPING=1`` on the way out, so that a restart or a failover routes clients to this node
only when it answers. Without the variable nothing is sent.
"""

from __future__ import annotations

import contextlib
import os
import socket

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"

_address: str | None = None


def take_socket() -> None:
    """Remember ``$NOTIFY_SOCKET`` and remove it, so that children do not inherit it."""
    global _address
    _address = os.environ.pop(NOTIFY_SOCKET_ENV, None) or None


def notify(state: str) -> None:
    """Send ``state`` (e.g. ``READY=1``); silently nothing if there is no socket."""
    if not _address or _address[0] not in "/@":
        return
    address = "\0" + _address[1:] if _address.startswith("@") else _address
    with contextlib.suppress(OSError), \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.sendto(state.encode("ascii"), address)
