"""``serve``: run every enabled front-end, each in its own process group.

Each front-end package provides ``gateway.<name>.__main__`` that serves until SIGTERM
(and manages its own worker processes). This supervisor starts them, forwards SIGINT /
SIGTERM, and exits non-zero if one of them dies, so that a service manager restarts it.
While it runs it holds ``<data_dir>/serve.pid`` (``gateway.runstate``): ``status`` reads
it, and a second ``serve`` on the same data directory refuses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from gateway.core import Core
from gateway.runstate import PidFile, pid_file


def serve(core: Core, front_ends: list[str]) -> int:
    """Run the front-ends under a pid file (``gateway.runstate``) that ``status`` reads."""
    pids = PidFile(pid_file(core.config))
    pids.acquire()  # refuses when another serve runs on this data directory
    try:
        return _supervise(core, front_ends, pids)
    finally:
        pids.release()


def _supervise(core: Core, front_ends: list[str], pids: PidFile) -> int:
    env = dict(os.environ)
    if core.config.source != "<defaults>":
        env["LUMANOX_CONFIG"] = str(core.config.source)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in front_ends:
        procs[name] = subprocess.Popen([sys.executable, "-m", f"gateway.{name}"], env=env)
    pids.record({name: {"pid": p.pid} for name, p in procs.items()})
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while True:
            for name, p in procs.items():
                code = p.poll()
                if code is not None:
                    if not stopping:
                        print(f"lumanox-gateway: front-end {name} exited with {code}; "
                              "stopping the others", file=sys.stderr)
                        stop(signal.SIGTERM, None)
                    for other in procs.values():
                        try:
                            other.wait(timeout=15)
                        except subprocess.TimeoutExpired:
                            other.kill()
                    return 0 if stopping and code in (0, -signal.SIGTERM) else 1
            time.sleep(0.2)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
