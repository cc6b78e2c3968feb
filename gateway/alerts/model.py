"""The alert rules, their parameters and defaults, and a fired alert."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.config import Config


@dataclass(frozen=True)
class RuleSpec:
    """A rule: its parameters (besides ``enabled``) and what it detects."""

    name: str
    params: tuple[str, ...]
    description: str


RULES: dict[str, RuleSpec] = {r.name: r for r in (
    RuleSpec("failed_logins_account", ("threshold", "window_s"),
             "failed logins of one account within a window"),
    RuleSpec("failed_logins_address", ("threshold", "window_s"),
             "failed logins from one address within a window"),
    RuleSpec("mass_download", ("max_files", "max_bytes", "window_s"),
             "one account downloads many files or bytes within a window"),
    RuleSpec("new_network", (), "a login from a network never seen for the account"),
    RuleSpec("audit_chain", (), "audit chain verification failed"),
    RuleSpec("decrypt_failure", (), "stored content failed decryption or authentication"),
    RuleSpec("expired_credential", (), "an expired app password or SSH key was tried"),
    RuleSpec("admin_outside_window", ("window",),
             "an admin action outside the maintenance window (UTC)"),
)}


def rule_spec(name: str) -> RuleSpec:
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"no alert rule {name!r}: choose one of {', '.join(RULES)}") from None


def defaults(config: Config) -> dict[str, dict[str, Any]]:
    """Every rule's parameters from ``[alerts]`` (keys ``<rule>_<param>``)."""
    a = config.alerts
    return {name: {p: getattr(a, f"{name}_{p}") for p in ("enabled", *spec.params)}
            for name, spec in RULES.items()}


def check_param(rule: str, param: str, value: str) -> Any:
    """A parameter value given as text, converted to the default's type (ValueError)."""
    spec = rule_spec(rule)
    if param not in ("enabled", *spec.params):
        raise ValueError(f"rule {rule} has no parameter {param!r}: it has "
                         f"{', '.join(('enabled', *spec.params))}")
    default = defaults(Config())[rule][param]
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{rule}.{param}: expected true or false, got {value!r}")
        return value.lower() == "true"
    if isinstance(default, int):
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{rule}.{param}: expected a whole number of 1 or more, "
                             f"got {value!r}")
        return int(value)
    if param == "window":
        from gateway.timewindow import parse_window

        parse_window(value)
    return value


@dataclass
class FiredAlert:
    """An alert: a rule fired for a subject (an account, an address, a chain) of a tenant."""

    rule: str
    tenant: str | None
    subject: str
    at: datetime
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    user: str | None = None  # the account concerned (erasable in the audit event)
    remote_addr: str | None = None
    id: int | None = None
    tenant_id: str | None = None  # the tenant's id (its audit chain, the outbox's tenant)
    fired_at: datetime | None = None
    delivery: dict[str, str] = field(default_factory=dict)
    repeats: int = 0
    #: the same alert with its figures counted exactly from the catalog (given a
    #: connection), when those were found over a window cut short in memory
    #: (alerts/windows.py); the evaluator calls it only for an alert it stores
    exact: Callable[[Any], FiredAlert] | None = field(default=None, repr=False,
                                                       compare=False)

    @property
    def dedupe_key(self) -> str:
        key = f"{self.rule}|{self.tenant or '-'}|{self.subject}"
        return key if len(key) <= 200 else f"{self.rule}|sha256:" + \
            hashlib.sha256(key.encode()).hexdigest()

    def payload(self) -> dict[str, Any]:
        """The JSON-able form sinks send (webhook body, mail text, log line)."""
        return {"id": self.id, "rule": self.rule, "tenant": self.tenant,
                "subject": self.subject, "summary": self.summary,
                "at": self.at.isoformat(timespec="seconds"),
                "fired_at": self.fired_at.isoformat(timespec="seconds")
                if self.fired_at else None,
                "details": json.loads(json.dumps(self.details, default=str)),
                "description": RULES[self.rule].description if self.rule in RULES else ""}
