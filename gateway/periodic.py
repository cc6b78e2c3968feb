"""The shape of ``serve``'s background jobs (gateway/supervisor_jobs.py): a daemon thread
of the supervisor that runs a round every interval until ``stop()``. A failing round is
reported once on stderr (``lumanox-gateway: <label>: ...; retrying``) and retried next
interval, and its recovery is reported once too, so that an outage gives two lines, not
one a round."""

from __future__ import annotations

import sys
import threading
from typing import Self


class PeriodicJob:
    """Subclasses give ``round()`` and, if they hold resources, ``close()``."""

    #: how messages name the job; the thread's name is the same (``top -H`` shows it)
    label = "job"

    def __init__(self, interval_s: float, *, at_start: bool = False,
                 stop_timeout_s: float = 30) -> None:
        self.interval_s = interval_s
        self.at_start = at_start  # a first round at once, not after one interval
        self.stop_timeout_s = stop_timeout_s
        self.stopping = threading.Event()
        self.failing = False
        self._thread = threading.Thread(target=self._run, name=self.label, daemon=True)

    def enabled(self) -> bool:
        """Whether the configuration asks for this job (default: a positive interval)."""
        return self.interval_s > 0

    def start(self) -> Self:
        if self.enabled():
            self._thread.start()
        return self

    def round(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the rounds held (after the thread has ended)."""

    def guarded_round(self) -> None:
        """One round; a failure is reported (once until a round succeeds again)."""
        try:
            self.round()
        except Exception as exc:  # retried next interval; the admin sees why, once
            if not self.failing:
                print(f"lumanox-gateway: {self.label}: {type(exc).__name__}: {exc}; "
                      "retrying", file=sys.stderr, flush=True)
            self.failing = True
            return
        if self.failing:
            print(f"lumanox-gateway: {self.label}: working again", file=sys.stderr,
                  flush=True)
        self.failing = False

    def _run(self) -> None:
        if self.at_start:
            self.guarded_round()
        while not self.stopping.wait(self.interval_s):
            self.guarded_round()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.stop_timeout_s)
        self.close()
