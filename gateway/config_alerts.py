"""The ``[alerts]`` section: defaults of the alert rules (gateway/alerts). Kept apart from
gateway/config.py like ``config_notify``; plain settings, no import of gateway.alerts."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import ConfigError


@dataclass
class AlertsSection:
    """Alert rules over the audit stream (gateway/alerts; docs/cli.md "Alerts"). Each
    ``<rule>_<param>`` key is that rule's default; tenants override them in the catalog."""

    enabled: bool = True
    interval_ms: int = 2000
    lease_s: int = 30
    dedupe_window_s: int = 3600
    verify_interval_s: int = 3600
    sinks: list[str] = field(default_factory=lambda: ["log"])
    failed_logins_account_enabled: bool = True
    failed_logins_account_threshold: int = 10
    failed_logins_account_window_s: int = 300
    failed_logins_address_enabled: bool = True
    failed_logins_address_threshold: int = 20
    failed_logins_address_window_s: int = 300
    mass_download_enabled: bool = True
    mass_download_max_files: int = 50
    mass_download_max_bytes: int = 1024 ** 3
    mass_download_window_s: int = 60
    new_network_enabled: bool = True
    audit_chain_enabled: bool = True
    decrypt_failure_enabled: bool = True
    expired_credential_enabled: bool = True
    admin_outside_window_enabled: bool = False
    admin_outside_window_window: str = "22:00-06:00"


def validate_alerts(src: object, a: AlertsSection) -> None:
    """One line naming the key and the fix for a bad ``[alerts]`` value."""
    if not 100 <= a.interval_ms <= 600000:
        raise ConfigError(f"{src}: alerts.interval_ms: expected 100 to 600000, got {a.interval_ms}")
    for key in ("lease_s", "dedupe_window_s", "failed_logins_account_threshold",
                "failed_logins_account_window_s", "failed_logins_address_threshold",
                "failed_logins_address_window_s", "mass_download_max_files",
                "mass_download_max_bytes", "mass_download_window_s"):
        if getattr(a, key) < 1:
            raise ConfigError(f"{src}: alerts.{key}: must be 1 or more")
    if a.verify_interval_s < 0:
        raise ConfigError(f"{src}: alerts.verify_interval_s: must be 0 (off) or more seconds")
    for sink in a.sinks:
        kind, _, target = sink.partition(":")
        if not (sink == "log" or (kind in ("webhook", "mail") and target)):
            raise ConfigError(f"{src}: alerts.sinks: {sink!r} is not a sink; use \"log\", "
                              "\"webhook:<id>\" or \"mail:<address>\"")
    from gateway.timewindow import parse_window

    try:
        parse_window(a.admin_outside_window_window)
    except ValueError as exc:
        raise ConfigError(f"{src}: alerts.admin_outside_window_window: {exc}") from None
