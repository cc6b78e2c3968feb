"""``serve``'s node heartbeat: a supervisor job (gateway/supervisor_jobs.py) that refreshes
this node's row in the catalog's ``gateway_nodes`` every ``[gateway] node_heartbeat_s``.
Other nodes free the session slots of a node whose row has gone stale (a crashed
machine: no process of it is left to free them; gateway/policy/slots.py)."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from gateway.catalog.db import Catalog
from gateway.catalog.heartbeats import beat
from gateway.config import Config
from gateway.periodic import PeriodicJob


def node_name(config: Config) -> str:
    """This node's name: ``[gateway] node_name``, else the host name."""
    return config.gateway.node_name or socket.gethostname()


class HeartbeatJob(PeriodicJob):
    """A daemon thread of the supervisor; the first beat is at once, then every interval."""

    label = "heartbeat"

    def __init__(self, config: Config) -> None:
        super().__init__(config.gateway.node_heartbeat_s, at_start=True)
        self.config = config
        self.name = node_name(config)
        self._started_at = datetime.now(UTC)
        self._catalog: Catalog | None = None

    def round(self) -> None:
        """One heartbeat (e.g. the catalog briefly unreachable: retried next interval)."""
        if self._catalog is None:
            self._catalog = Catalog(self.config.catalog_url, pool_size=1)
        with self._catalog.write() as conn:
            beat(conn, self.name, os.getpid(), self._started_at)

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.dispose()


def start_job(config: Config) -> HeartbeatJob:
    """``serve``'s supervisor job."""
    return HeartbeatJob(config).start()
