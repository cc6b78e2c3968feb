"""``serve``'s audit stream: the supervisor exports the catalog's new events to ``audit.log``
(a file or its stdout) every ``audit.export_interval_ms``, and once more when it stops.

The front-end workers only write the catalog; one exporter per data directory keeps the
stream in commit order per chain, exactly once for a file (gateway/auditv2/export.py).
"""

from __future__ import annotations

import sys
import threading

from gateway.auditv2.export import audit_cursor_file, audit_target, export_to_target
from gateway.catalog import Catalog
from gateway.config import Config
from gateway.errors import GatewayError


class AuditFollower:
    """A daemon thread of the supervisor; ``stop()`` runs a last round and waits for it."""

    def __init__(self, config: Config) -> None:
        self.target = audit_target(config)
        self._cursor = audit_cursor_file(config, self.target)
        self._interval = config.audit.export_interval_ms / 1000
        self._catalog = Catalog(config.catalog_url, pool_size=1)
        self._stopping = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="audit-export", daemon=True)

    def start(self) -> AuditFollower:
        if self.target != "off":
            self._thread.start()
        return self

    def _round(self) -> None:
        try:
            export_to_target(self._catalog, self.target, self._cursor)
            if self._failing:
                print(f"lumanox-gateway: audit stream: exporting to {self.target} again",
                      file=sys.stderr, flush=True)
            self._failing = False
        except Exception as exc:  # the catalog keeps every event: retried next round
            if not self._failing:
                detail = f": {exc}" if isinstance(exc, GatewayError | OSError) else ""
                print(f"lumanox-gateway: audit stream: export to {self.target} failed "
                      f"({type(exc).__name__}{detail}); retrying", file=sys.stderr,
                      flush=True)
            self._failing = True

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._round()
        self._round()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(timeout=30)
        self._catalog.dispose()


def start_job(config: Config) -> AuditFollower:
    """``serve``'s supervisor job (gateway/supervisor_jobs.py)."""
    return AuditFollower(config).start()
