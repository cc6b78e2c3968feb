"""``serve``'s node heartbeat: a supervisor job (gateway/supervisor_jobs.py) that refreshes
this node's row in the catalog's ``gateway_nodes`` every ``[gateway] node_heartbeat_s``.
Other nodes free the session slots of a node whose row has gone stale (a crashed
machine: no process of it is left to free them; gateway/policy/slots.py)."""

from __future__ import annotations

import os
import socket
import sys
import threading
from datetime import UTC, datetime

from gateway.catalog.db import Catalog
from gateway.catalog.heartbeats import beat
from gateway.config import Config


def node_name(config: Config) -> str:
    """This node's name: ``[gateway] node_name``, else the host name."""
    return config.gateway.node_name or socket.gethostname()


class HeartbeatJob:
    """A daemon thread of the supervisor; the first beat is at once, then every interval."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.name = node_name(config)
        self._interval = config.gateway.node_heartbeat_s
        self._started_at = datetime.now(UTC)
        self._stopping = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._catalog: Catalog | None = None

    def start(self) -> HeartbeatJob:
        if self._interval > 0:
            self._thread.start()
        return self

    def beat(self) -> None:
        """One heartbeat; a failure is reported once and retried next interval."""
        try:
            if self._catalog is None:
                self._catalog = Catalog(self.config.catalog_url, pool_size=1)
            with self._catalog.write() as conn:
                beat(conn, self.name, os.getpid(), self._started_at)
            if self._failing:
                print("lumanox-gateway: heartbeat: recorded again", file=sys.stderr, flush=True)
            self._failing = False
        except Exception as exc:  # e.g. the catalog briefly unreachable
            if not self._failing:
                print(f"lumanox-gateway: heartbeat: could not record ({type(exc).__name__}: "
                      f"{exc}); retrying", file=sys.stderr, flush=True)
            self._failing = True

    def _run(self) -> None:
        self.beat()
        while not self._stopping.wait(self._interval):
            self.beat()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(timeout=30)
        if self._catalog is not None:
            self._catalog.dispose()


def start_job(config: Config) -> HeartbeatJob:
    """``serve``'s supervisor job."""
    return HeartbeatJob(config).start()
