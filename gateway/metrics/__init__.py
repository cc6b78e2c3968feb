"""Prometheus metrics of ``serve``: counted in every front-end worker process, exposed from
one folder (prometheus_client's multiprocess mode).

``serve`` calls ``process.prepare`` before it forks anything: it empties
``<data_dir>/metrics`` and names it in ``$PROMETHEUS_MULTIPROC_DIR``, so every process it
starts counts into that folder. A worker's ``Access`` installs the hooks
(``process.install``: one observer on the audit path, a timed blob store, the sessions
gauge) and marks the process dead when it closes. ``exposition.render`` reads the folder
(the ``metrics`` command, the admin API's GET /metrics); ``live`` builds the live part of
``status``. Nothing in the core imports this package: the core offers plain hooks
(``AuditLog.observer``), this package fills them.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.config import Config

#: prometheus_client reads it when it is first imported (values of every process)
ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
DIR_NAME = "metrics"


def metrics_dir(config: Config) -> Path:
    """Where the processes of ``serve`` keep their counters."""
    return config.data_dir / DIR_NAME


def active(config: Config) -> bool:
    """Whether this process counts: metrics enabled and started under ``serve`` (which
    named the folder); a CLI command or a test's in-process core never counts."""
    return config.metrics.enabled and bool(os.environ.get(ENV_DIR))


def record_alert(rule: str) -> None:
    """Count one alert fired by the alert rule ``rule`` (called by the alert engine)."""
    from gateway.metrics.families import ALERTS

    ALERTS.labels(rule=rule).inc()
