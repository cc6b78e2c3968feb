"""``serve``'s retention job (gateway/supervisor_jobs.py): every ``retention.check_every_s``
the supervisor's thread asks the catalog lease whether a run is due and free; the node that
gets it runs retention for every tenant (renewing the lease after each batch) and records
the run. ``retention.job = false`` turns it off (run ``retention run`` from cron instead)."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime
from typing import Self

from gateway.catalog import Catalog
from gateway.compliance.retention import lease
from gateway.config import Config
from gateway.periodic import PeriodicJob


class RetentionJob(PeriodicJob):
    """A daemon thread of the supervisor; ``stop()`` ends it after the current batch."""

    label = "retention"

    def __init__(self, config: Config) -> None:
        super().__init__(max(1, config.retention.check_every_s), stop_timeout_s=60)
        self._config = config
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._catalog: Catalog | None = None

    def enabled(self) -> bool:
        return self._config.retention.job

    def start(self) -> Self:
        if self.enabled():
            self._catalog = Catalog(self._config.catalog_url, pool_size=1)
        return super().start()

    def round(self) -> bool:  # type: ignore[override]
        """Run retention if this node gets the lease and a run is due; True if it ran."""
        from gateway.compliance.retention.run import run_retention
        from gateway.core import Core

        cfg, catalog = self._config.retention, self._catalog
        assert catalog is not None
        if not lease.take(catalog, self.holder, datetime.now(UTC), lease_s=cfg.lease_s,
                          run_every_s=cfg.run_every_s):
            return False
        ran = False
        try:
            with Core.open(self._config, audit_log="off") as core:
                run_retention(core, progress=lambda _m: self._renew())
            ran = True
        finally:
            lease.finish(catalog, self.holder, datetime.now(UTC), ran=ran)
        return True

    def _renew(self) -> None:
        assert self._catalog is not None
        if self.stopping.is_set():
            raise InterruptedError("serve is stopping")  # the next run resumes
        lease.renew(self._catalog, self.holder, datetime.now(UTC), self._config.retention.lease_s)

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.dispose()


def start_job(config: Config) -> RetentionJob:
    """``serve``'s supervisor job (gateway/supervisor_jobs.py)."""
    return RetentionJob(config).start()
