"""The sections of the features around the core: ``[admin_api]``, ``[metrics]`` and
``[retention]``. Plain settings, kept apart from gateway/config.py (which re-exports
them) so that file stays one concern."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AdminAPISection:
    """The admin HTTP API (gateway/admin_api, docs/admin-api.md)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8444
    tls: bool = True  # false only on a loopback address
    threads: int = 8
    max_body_bytes: int = 65536  # larger request bodies: 413
    request_timeout_s: int = 15  # a slow client's socket is closed after this


@dataclass
class MetricsSection:
    """Prometheus metrics of ``serve`` (gateway/metrics)."""

    enabled: bool = True
    status_errors: int = 10  # `status` shows this many recent error/denied events
    #: GET /metrics of the admin API answers loopback clients without a token
    loopback_without_token: bool = False


@dataclass
class RetentionSection:
    """The retention job of ``serve`` (gateway/compliance/retention)."""

    job: bool = True  # run retention inside serve (one node at a time, via a catalog lease)
    run_every_s: int = 86400
    check_every_s: int = 300  # how often serve looks whether a run is due
    lease_s: int = 3600  # a node that died holding the lease loses it after this
    batch_files: int = 500  # files per transaction
