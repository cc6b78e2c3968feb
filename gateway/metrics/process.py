"""Which processes count, and their start and end.

``prepare`` runs in ``serve`` before any front-end is forked; ``install`` in each process
that opens an ``Access`` while it counts (``gateway.metrics.active``); ``Counting.close``
when that ``Access`` closes (prometheus_client's ``mark_process_dead``: its live gauges,
such as open sessions, leave the sum). A worker killed without closing is dropped from
the live gauges by ``exposition.render``, which checks that each process still runs.
"""

from __future__ import annotations

import os
import platform
import shutil
from importlib import metadata

from gateway.backends.stores import DEFAULT
from gateway.config import Config
from gateway.core import Core
from gateway.metrics import ENV_DIR, active, metrics_dir


def prepare(config: Config) -> None:
    """In ``serve``, before forking: an empty metrics folder, named for every child."""
    if not config.metrics.enabled:
        os.environ.pop(ENV_DIR, None)
        return
    path = metrics_dir(config)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True)
    os.environ[ENV_DIR] = str(path)


def version() -> str:
    try:
        return metadata.version("lumanox-gateway")
    except metadata.PackageNotFoundError:
        return "unknown"


class Counting:
    """The hooks one process installed; ``close`` undoes them and leaves the live sums."""

    def __init__(self, core: Core) -> None:
        from gateway.metrics import families
        from gateway.metrics.observer import MetricsObserver
        from gateway.metrics.timedstore import TimedStore

        self.core = core
        self.observer = MetricsObserver()
        self.pid = os.getpid()
        core.audit.observer = self.observer
        # every configured store, by name: reads go to the blob's store, writes to the
        # tenant's, so timing only ``core.store``'s default would miss the others
        timed = core.stores.mapped(lambda name, store: TimedStore(store, name))
        core.store = timed if core.store is core.stores else timed.named(DEFAULT)
        core.stores = timed
        families.BUILD.labels(version=version(), python=platform.python_version()).set(1)

    def session(self, protocol: str, tenant: str, delta: int) -> None:
        self.observer.session(protocol, tenant, delta)

    def close(self) -> None:
        from prometheus_client import multiprocess

        self.core.audit.observer = None
        if os.getpid() == self.pid and os.environ.get(ENV_DIR):
            multiprocess.mark_process_dead(self.pid)


def install(core: Core) -> Counting | None:
    """Count this process's work, if it counts (``gateway.metrics.active``)."""
    return Counting(core) if active(core.config) else None
