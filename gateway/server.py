"""``serve``: run every enabled front-end, each in its own process.

Each front-end package provides ``gateway.<name>.__main__.main`` that serves until SIGTERM
(and manages its own worker processes). This supervisor starts them, prints one line
``lumanox-gateway: ready (...)`` once every front-end accepts connections, forwards
SIGINT / SIGTERM, and exits non-zero if one of them dies, so that a service manager
restarts it.

Start-up: the caller has already imported the core and checked the catalog (migrations
applied once, here), so the first generation is forked from this process rather than
started as fresh interpreters that would import everything again (see ``frontends``).

With ``$NOTIFY_SOCKET`` (systemd ``Type=notify``) it also sends READY=1 / RELOADING=1 /
STOPPING=1 (``sdnotify``).

Reload (SIGHUP): a new generation is started as fresh interpreters (new code and
configuration) while the old one keeps serving; the new workers join the ports with
SO_REUSEPORT, and only when all of them accept is the old generation stopped. Clients are
never refused. If the new generation fails, it is stopped and the old one keeps serving.

While it runs it holds ``<data_dir>/serve.pid`` (``gateway.runstate``) with the pids of
the running generation: ``status`` reads it, and a second ``serve`` on the same data
directory refuses. Once ready, files stored before migration 0004 get their content MACs
in a background thread (``gateway.contentmac``), and the JSON-lines audit stream
(``audit.log``) is exported from the catalog by a thread of this process
(``gateway.auditv2.follower``, one of the background jobs of ``gateway.supervisor_jobs``),
once more after the front-ends stopped.
"""

from __future__ import annotations

import signal
import sys
import time

from gateway import sdnotify
from gateway.config import Config
from gateway.contentmac import backfill_in_background
from gateway.frontends import (
    FrontEnd,
    forget_outside_takeover,
    fork_front_end,
    spawn_front_end,
    stop_all,
    wait_ready,
)
from gateway.metrics.process import prepare as prepare_metrics
from gateway.runstate import PidFile, pid_file
from gateway.supervisor_jobs import Job, start_jobs, stop_jobs

PREFIX = "lumanox-gateway"
#: how long a front-end may take to listen before ``serve`` gives up on it
READY_TIMEOUT = 120.0


def serve(config: Config, front_ends: list[str]) -> int:
    """Run the front-ends under a pid file that ``status`` reads; the exit code."""
    pids = PidFile(pid_file(config))
    pids.acquire()  # refuses when another serve runs on this data directory
    try:
        prepare_metrics(config)  # before any fork: every process counts into one folder
        return _supervise(config, front_ends, pids)
    finally:
        pids.release()


def _record(pids: PidFile, generation: list[FrontEnd]) -> None:
    pids.record({fe.name: {"pid": fe.pid} for fe in generation})


def _supervise(config: Config, front_ends: list[str], pids: PidFile) -> int:
    source = None if config.source == "<defaults>" else str(config.source)
    requests: dict[str, bool] = {"stop": False, "reload": False}

    def on_stop(_signum: int, _frame: object) -> None:
        requests["stop"] = True

    def on_reload(_signum: int, _frame: object) -> None:
        requests["reload"] = True

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    sdnotify.take_socket()
    forget_outside_takeover()
    # both front-ends start at once (the catalog is migrated already): one per core
    current = [fork_front_end(name, source) for name in front_ends]
    _record(pids, current)
    jobs: list[Job] = []
    try:
        failed = wait_ready(current, READY_TIMEOUT, lambda: requests["stop"])
        if failed is not None and not requests["stop"]:
            code = failed.poll()
            why = f"exit code {code}" if code is not None else f"not ready in {READY_TIMEOUT:.0f} s"
            print(f"{PREFIX}: front-end {failed.name} did not start ({why}); stopping",
                  file=sys.stderr, flush=True)
            stop_all(current)
            return 1
        if not requests["stop"]:
            print(f"{PREFIX}: ready ({', '.join(front_ends)})", flush=True)
            sdnotify.notify("READY=1")
            backfill_in_background(config)  # after the forks: no thread is ever forked
            jobs = start_jobs(config)  # the audit follower and the other background jobs
        while not requests["stop"]:
            if requests["reload"]:
                requests["reload"] = False
                sdnotify.notify("RELOADING=1")
                current = _reload(current, front_ends, source, requests)
                _record(pids, current)
                sdnotify.notify("READY=1")
            dead = next((fe for fe in current if fe.poll() is not None), None)
            if dead is not None:
                print(f"{PREFIX}: front-end {dead.name} exited with {dead.returncode}; "
                      "stopping the others", file=sys.stderr, flush=True)
                stop_all(current)
                return 1
            time.sleep(0.2)
        sdnotify.notify("STOPPING=1")
        stop_all(current)
        return 0 if all(fe.returncode in (0, -signal.SIGTERM) for fe in current) else 1
    finally:
        stop_all([fe for fe in current if fe.poll() is None], grace=0)
        stop_jobs(jobs)  # the follower last: a last round for the stopped workers' events


def _reload(old: list[FrontEnd], names: list[str], source: str | None,
            requests: dict[str, bool]) -> list[FrontEnd]:
    """Start a new generation beside ``old``; swap when it listens, else keep ``old``.

    The new front-ends start one after the other, so that a pending migration (new code)
    is applied by exactly one of them."""
    new: list[FrontEnd] = []
    for name in names:
        fe = spawn_front_end(name, source, takeover=True)
        new.append(fe)
        failed = wait_ready([fe], READY_TIMEOUT, lambda: requests["stop"])
        if failed is not None:
            stop_all(new)
            if not requests["stop"]:
                print(f"{PREFIX}: reload failed: front-end {name} did not start; the "
                      "previous generation keeps serving", file=sys.stderr, flush=True)
            return old
    stop_all(old)
    print(f"{PREFIX}: reloaded ({', '.join(names)})", flush=True)
    return new
