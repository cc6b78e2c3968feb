"""``serve``'s background jobs (gateway/periodic.py): a round every interval, a failing
round reported once and its recovery once, ``stop()`` ends the thread and releases."""

from __future__ import annotations

import threading

import pytest

from gateway.periodic import PeriodicJob


class Flaky(PeriodicJob):
    label = "flaky"

    def __init__(self, outcomes: list[bool]) -> None:
        super().__init__(0.01, at_start=True)
        self.outcomes, self.rounds, self.closed = outcomes, 0, False
        self.done = threading.Event()

    def round(self) -> None:
        self.rounds += 1
        if self.rounds >= len(self.outcomes):
            self.done.set()
        if not self.outcomes[min(self.rounds, len(self.outcomes)) - 1]:
            raise ConnectionError("catalog unreachable")

    def close(self) -> None:
        self.closed = True


def test_an_outage_is_reported_once_and_its_end_once(capsys: pytest.CaptureFixture[str]) -> None:
    job = Flaky([True, False, False, False, True, True]).start()
    assert job.done.wait(10)
    job.stop()
    err = capsys.readouterr().err.splitlines()
    assert err == ["lumanox-gateway: flaky: ConnectionError: catalog unreachable; retrying",
                   "lumanox-gateway: flaky: working again"]
    assert job.closed and not job._thread.is_alive() and job.rounds >= 6


def test_a_job_without_an_interval_does_not_start() -> None:
    job = Flaky([True])
    job.interval_s = 0
    job.start().stop()
    assert job.rounds == 0 and job.closed
