"""``serve``'s alert evaluator: a supervisor job (gateway/supervisor_jobs.py) that runs a
round every ``[alerts] interval_ms``; with several processes or nodes, the lease lets one
of them evaluate at a time (the others' rounds do nothing until its lease expires)."""

from __future__ import annotations

import sys
import threading

from gateway.config import Config


class AlertJob:
    """A daemon thread of the supervisor; ``stop()`` ends it and gives up the lease."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._interval = config.alerts.interval_ms / 1000
        self._stopping = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._evaluator = None

    def start(self) -> AlertJob:
        if self.config.alerts.enabled:
            self._thread.start()
        return self

    def _round(self) -> None:
        try:
            if self._evaluator is None:
                from gateway.alerts.evaluator import Evaluator
                from gateway.core import Core

                self._evaluator = Evaluator(Core.open(self.config, audit_log="off"))
            self._evaluator.run_once()
            if self._failing:
                print("lumanox-gateway: alerts: evaluating again", file=sys.stderr, flush=True)
            self._failing = False
        except Exception as exc:  # the cursor did not move: retried next round
            if not self._failing:
                print(f"lumanox-gateway: alerts: evaluation failed ({type(exc).__name__}: "
                      f"{exc}); retrying", file=sys.stderr, flush=True)
            self._failing = True

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._round()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(timeout=30)
        if self._evaluator is not None:
            try:
                self._evaluator.release()
            finally:
                self._evaluator.core.close()


def start_job(config: Config) -> AlertJob:
    """``serve``'s supervisor job."""
    return AlertJob(config).start()
