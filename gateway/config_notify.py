"""The ``[notify]`` and ``[notify.smtp]`` sections: webhook and e-mail delivery
(gateway/notify). Kept apart from gateway/config.py so that file stays one concern; the
core may import this module (plain settings), never gateway.notify itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.errors import ConfigError


@dataclass
class SMTPSection:
    host: str = ""  # "" = e-mail delivery off (mail targets are dead-lettered)
    port: int = 587
    starttls: bool = True  # upgrade with STARTTLS and verify the server's certificate
    ca_file: str = ""  # CA bundle that signs the server's certificate ("" = system CAs)
    user: str = ""  # "" = no login
    password_env: str = ""  # the password comes from this environment variable...
    password_file: str = ""  # ...or from this file (never from this configuration)
    from_address: str = ""  # envelope and From: address
    timeout_s: int = 30


@dataclass
class NotifySection:
    enabled: bool = True  # serve runs the event watcher and the delivery dispatcher
    poll_interval_ms: int = 1000  # how often both look for new events / due deliveries
    webhook_timeout_s: int = 10  # connect + response time allowed per webhook POST
    webhook_ca_file: str = ""  # CA bundle for https receivers ("" = system CAs)
    allow_plain_http: bool = False  # http:// to hosts other than loopback (else https only)
    max_attempts: int = 8  # attempts per delivery before it is dead-lettered
    retry_base_ms: int = 30000  # first retry after this; doubles after each failure
    retry_max_ms: int = 3600000  # longest wait between two attempts
    claim_lease_s: int = 120  # a claimed delivery is retried elsewhere after this
    keep_days: int = 30  # delivered and dead entries (and attempts) are removed after this
    delivery_threads: int = 4  # deliveries in flight at once per dispatcher (per node)
    # names clients upload under before renaming to the final name (WinSCP: .filepart):
    # a write to such a name is no upload event; the rename to the final name is
    temporary_suffixes: list[str] = field(
        default_factory=lambda: [".filepart", ".part", ".partial", ".tmp"])
    smtp: SMTPSection = field(default_factory=SMTPSection)


def validate_notify(source: str, n: NotifySection) -> None:
    for key, low, high in (("poll_interval_ms", 10, 600000), ("webhook_timeout_s", 1, 300),
                           ("max_attempts", 1, 100), ("retry_base_ms", 10, 86400000),
                           ("retry_max_ms", 10, 7 * 86400000), ("claim_lease_s", 5, 86400),
                           ("delivery_threads", 1, 64), ("keep_days", 0, 36500)):
        value = getattr(n, key)
        if not low <= value <= high:
            raise ConfigError(f"{source}: notify.{key}: expected {low} to {high}, got {value}")
    if n.claim_lease_s <= max(n.webhook_timeout_s, n.smtp.timeout_s):
        raise ConfigError(f"{source}: notify.claim_lease_s: must exceed webhook_timeout_s "
                          "and smtp.timeout_s (a delivery must end before its claim does)")
    if not 1 <= n.smtp.port <= 65535:
        raise ConfigError(f"{source}: notify.smtp.port: expected 1 to 65535")
    if n.smtp.host and not n.smtp.from_address:
        raise ConfigError(f"{source}: notify.smtp.from_address: required when "
                          "notify.smtp.host is set (the sender of every message)")
    if n.smtp.password_env and n.smtp.password_file:
        raise ConfigError(f"{source}: notify.smtp: set password_env or password_file, "
                          "not both")
