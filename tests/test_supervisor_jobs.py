"""The supervisor's background jobs run below the request workers: their threads get nice
``JOB_NICE`` and their names in the system; the main thread (which forks new workers on a
reload) keeps its own."""

from __future__ import annotations

import os
import threading

from gateway.supervisor_jobs import JOB_NICE, lower_priority_of_job_threads


def test_job_threads_are_reniced_and_the_main_thread_is_not() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def job() -> None:
        started.set()
        release.wait(10)
        child = threading.Thread(target=lambda: seen.append(os.getpriority(
            os.PRIO_PROCESS, threading.get_native_id())))
        child.start()  # a thread the job starts later inherits the job's priority
        child.join()

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=job, name="a-job-with-a-long-name", daemon=True)
    t.start()
    started.wait(10)
    lower_priority_of_job_threads()
    assert os.getpriority(os.PRIO_PROCESS, t.native_id) == JOB_NICE
    with open(f"/proc/self/task/{t.native_id}/comm") as comm:  # top -H shows the job
        assert comm.read().strip() == "a-job-with-a-long-name"[:15]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before
    release.set()
    t.join(10)
    assert seen == [JOB_NICE]
