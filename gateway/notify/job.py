"""``serve``'s notification job (gateway/supervisor_jobs.py): the event watcher (on one
node at a time, under a lease) and the delivery dispatcher (on every node), two threads
over one core of the supervisor process."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from gateway.audit import AuditEvent
from gateway.config import Config
from gateway.core import Core
from gateway.notify import outbox
from gateway.notify.dispatcher import Dispatcher, holder_name
from gateway.notify.watcher import LEASE, has_rules, release_lease, take_lease, watch_once
from gateway.periodic import PeriodicJob

log = logging.getLogger(__name__)
#: how often the lease holder forgets finished deliveries older than ``notify.keep_days``
PRUNE_EVERY_S = 3600.0


class EventWatcher(PeriodicJob):
    """Follows the audit chains of ruled tenants while it holds the watcher lease."""

    label = "notify-watch"

    def __init__(self, config: Config, core: Core) -> None:
        super().__init__(config.notify.poll_interval_ms / 1000, stop_timeout_s=60)
        self.core = core
        self.suffixes = config.notify.temporary_suffixes
        self.keep_days = config.notify.keep_days
        self._next_prune = 0.0
        self.lease_s = max(30.0, 10 * self.interval_s)
        self.holder = holder_name(config)

    def round(self) -> None:  # a failed round did not move the cursor: the next one retries
        self.run_once()

    def run_once(self) -> int:
        """One round; no write at all (not even the lease) while no tenant has rules and
        no pruning is due."""
        prune_due = bool(self.keep_days) and time.monotonic() >= self._next_prune
        if not (prune_due or has_rules(self.core.catalog)):
            return 0
        if not take_lease(self.core.catalog, LEASE, self.holder, self.lease_s):
            return 0
        seen = watch_once(self.core.catalog, self.suffixes)
        if prune_due:
            self._next_prune = time.monotonic() + PRUNE_EVERY_S
            self.prune()
        return seen

    def prune(self) -> int:
        """Forget finished deliveries older than ``notify.keep_days`` (audited)."""
        cutoff = datetime.now(UTC) - timedelta(days=self.keep_days)
        count = outbox.prune(self.core.catalog, cutoff)
        if count:
            self.core.record(AuditEvent(action="notify-prune", protocol="notify",
                                        user="gateway", reason=f"{count} finished deliveries "
                                        f"older than {self.keep_days} days removed"))
        return count

    def close(self) -> None:
        try:  # give the lease up for another node (only if this one holds it)
            release_lease(self.core.catalog, LEASE, self.holder)
        except Exception:  # it expires by itself
            log.exception("notify: could not release the watcher lease")


class NotifyJob:
    def __init__(self, config: Config) -> None:
        self.core: Core | None = None
        self.parts: list[EventWatcher | Dispatcher] = []
        if config.notify.enabled:
            self.core = Core.open(config)
            self.parts = [EventWatcher(config, self.core).start(),
                          Dispatcher(config, self.core).start()]

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()
        if self.core is not None:
            self.core.close()


def start_job(config: Config) -> NotifyJob:
    """``serve``'s supervisor job."""
    return NotifyJob(config)
