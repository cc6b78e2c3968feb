"""``serve``'s alert evaluator: a supervisor job (gateway/supervisor_jobs.py) that runs a
round every ``[alerts] interval_ms``; with several processes or nodes, the lease lets one
of them evaluate at a time (the others' rounds do nothing until its lease expires)."""

from __future__ import annotations

from gateway.config import Config
from gateway.periodic import PeriodicJob


class AlertJob(PeriodicJob):
    """A daemon thread of the supervisor; ``stop()`` ends it and gives up the lease."""

    label = "alerts"

    def __init__(self, config: Config) -> None:
        super().__init__(config.alerts.interval_ms / 1000)
        self.config = config
        self._evaluator = None

    def enabled(self) -> bool:
        return self.config.alerts.enabled

    def round(self) -> None:  # a failed round did not move the cursor: retried next one
        if self._evaluator is None:
            from gateway.alerts.evaluator import Evaluator
            from gateway.core import Core

            self._evaluator = Evaluator(Core.open(self.config, audit_log="off"))
        self._evaluator.run_once()

    def close(self) -> None:
        if self._evaluator is not None:
            try:
                self._evaluator.release()
            finally:
                self._evaluator.core.close()


def start_job(config: Config) -> AlertJob:
    """``serve``'s supervisor job."""
    return AlertJob(config).start()
