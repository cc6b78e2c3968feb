"""Background jobs of ``serve``'s supervisor: threads that start once every front-end is
ready and stop after the front-ends did (in reverse order, so the audit follower, first in
the list, runs its last round after every other job stopped). Their threads run at nice
``JOB_NICE``: on a busy machine the request workers go first.

A job is a module in ``SUPERVISOR_JOBS`` with ``start_job(config) -> Job``; the module
decides from the configuration whether it has anything to do (a disabled job returns an
object whose ``stop()`` does nothing).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from typing import Protocol

from gateway.config import Config

#: the background jobs' nice value: request workers come first on a busy machine
JOB_NICE = 10

#: modules with ``start_job(config)``, started in this order and stopped in reverse
SUPERVISOR_JOBS: tuple[str, ...] = (
    "gateway.auditv2.follower",
    "gateway.heartbeat",
    "gateway.notify.job",
    "gateway.alerts.job",
    "gateway.compliance.retention.job",
)


class Job(Protocol):
    def stop(self) -> None: ...


def start_jobs(config: Config) -> list[Job]:
    """Start every job; a job that fails to start stops the ones already running."""
    started: list[Job] = []
    try:
        for module in SUPERVISOR_JOBS:
            started.append(importlib.import_module(module).start_job(config))
    except BaseException:
        stop_jobs(started)
        raise
    lower_priority_of_job_threads()
    return started


def lower_priority_of_job_threads() -> None:
    """Renice every thread of this process but the main one (the jobs' threads; threads
    they start later inherit it) and give each its name in the system (``top -H``, ``ps
    -L`` and /proc show ``alerts``, ``notify-watch``, ...: what a job costs can be read
    per thread). The main thread keeps its priority: the front-end workers it forks on a
    reload must not inherit the jobs' nice value."""
    for thread in threading.enumerate():
        if thread is threading.main_thread() or not thread.native_id:
            continue
        with contextlib.suppress(OSError):  # gone already: nothing to do
            os.setpriority(os.PRIO_PROCESS, thread.native_id, JOB_NICE)
            name = thread.name.encode("ascii", "replace")[:15]  # the kernel keeps 15 bytes
            with open(f"/proc/self/task/{thread.native_id}/comm", "wb") as comm:
                comm.write(name)


def stop_jobs(jobs: list[Job]) -> None:
    """Stop in reverse order of starting; one failing stop does not keep the others running."""
    errors: list[BaseException] = []
    for job in reversed(jobs):
        try:
            job.stop()
        except Exception as exc:  # each job gets its chance to stop
            errors.append(exc)
    if errors:
        raise errors[0]
