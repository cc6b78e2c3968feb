"""The Prometheus exposition of a running gateway, read from its metrics folder.

``render`` is what GET /metrics (admin API) and the ``metrics`` command answer. Before
reading, the live gauges of processes that no longer run (a worker killed without closing
its ``Access``) are dropped, so ``sessions_open`` never counts a dead worker's sessions.
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config import Config
from gateway.errors import GatewayError
from gateway.metrics import metrics_dir
from gateway.runstate import pid_alive, pid_file, read_state

_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


class MetricsUnavailable(GatewayError):
    """No running gateway counts into this data directory's metrics folder."""


def counting_dir(config: Config) -> Path:
    """The folder of the running ``serve``; MetricsUnavailable (with the fix) if none."""
    if not config.metrics.enabled:
        raise MetricsUnavailable(f"metrics are disabled (metrics.enabled = false in "
                                 f"{config.source}): enable them and restart serve")
    path = metrics_dir(config)
    if read_state(pid_file(config)) is None or not path.is_dir():
        raise MetricsUnavailable(f"no gateway is serving data directory {config.data_dir}: "
                                 "start it with `lumanox-gateway serve`")
    return path


def drop_dead(path: Path) -> list[int]:
    """Remove the live gauges of processes that no longer run; their pids."""
    from prometheus_client import multiprocess

    dead = set()
    for f in path.glob("gauge_live*_*.db"):
        m = _LIVE_FILE.fullmatch(f.name)
        if m and not pid_alive(int(m.group(1))):
            dead.add(int(m.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(path))
    return sorted(dead)


def _registry(config: Config):  # -> prometheus_client.CollectorRegistry
    """A registry over the folder of the running gateway, dead processes' gauges dropped."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    path = counting_dir(config)
    drop_dead(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return registry


def collect(config: Config) -> list:
    """The metric families of every process of the running gateway."""
    return list(_registry(config).collect())


def render(config: Config) -> tuple[bytes, str]:
    """The exposition text (body, content type) of the running gateway."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(_registry(config)), CONTENT_TYPE_LATEST


def sample_sums(config: Config, name: str, label: str) -> dict[str, float]:
    """The samples called ``name`` summed by ``label`` (e.g. sessions by protocol)."""
    sums: dict[str, float] = {}
    for family in collect(config):
        for sample in family.samples:
            if sample.name == name:
                key = sample.labels.get(label, "")
                sums[key] = sums.get(key, 0.0) + sample.value
    return sums
