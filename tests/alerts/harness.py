"""A real gateway (``serve``: WebDAV + SFTP, the alert evaluator every 200 ms) for the
alert scenarios, and helpers to wait for the evaluator and read what it fired."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cli_runner import clean_env, run_cli
from security.conftest import PW, SecGateway, prepare_gateway
from sqlalchemy import select

from gateway.alerts import state
from gateway.alerts.model import FiredAlert
from gateway.catalog import Catalog
from gateway.catalog.tables import alert_lease, audit_events
from gateway.config import load_config

__all__ = ["PW", "AlertGateway", "start"]

POLICY = ("defender_max_score = 100000\ndefender_account_max_score = 100000\n"
          "argon2_time_cost = 1\nargon2_memory_kib = 1024\nargon2_parallelism = 1\n")


class AlertGateway:
    def __init__(self, gw: SecGateway) -> None:
        self.gw = gw
        self.catalog = Catalog(load_config(gw.config_path).catalog_url, pool_size=1)

    def close(self) -> None:
        self.gw.stop()
        self.catalog.dispose()

    def settle(self, timeout: float = 60) -> None:
        """Wait until the evaluator's cursor is at every chain's head, twice in a row
        (the workers store audit events in batches, a few milliseconds late)."""
        deadline, caught_up = time.monotonic() + timeout, 0
        while caught_up < 2:
            assert time.monotonic() < deadline, "the alert evaluator did not catch up"
            time.sleep(0.3)
            with self.catalog.read() as conn:
                row = conn.execute(select(alert_lease.c.cursor)).scalar()
                heads = state.heads(conn)
            cursor = json.loads(row) if row else None
            done = cursor is not None and all(cursor.get(c, 0) >= s for c, s in heads.items())
            caught_up = caught_up + 1 if done else 0

    def wait_alert(self, rule: str, subject: str, timeout: float = 60) -> None:
        """Wait until an alert of ``rule`` for ``subject`` was fired (periodic checks)."""
        deadline = time.monotonic() + timeout
        while not self.alerts(rule, subject):
            assert time.monotonic() < deadline, f"no {rule} alert for {subject}"
            time.sleep(0.2)

    def alerts(self, rule: str | None = None, subject: str | None = None) -> list[FiredAlert]:
        with self.catalog.read() as conn:
            found = state.fired(conn, None, 10000)
        return [a for a in found if (rule is None or a.rule == rule)
                and (subject is None or a.subject == subject)]

    def alert_events(self) -> list[dict]:
        with self.catalog.read() as conn:
            return [dict(r) for r in conn.execute(select(audit_events).where(
                audit_events.c.action == "alert")).mappings()]

    def cli(self, *args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        p = run_cli(*args, env=clean_env(LUMANOX_CONFIG=str(self.gw.config_path)))
        assert not ok or p.returncode == 0, p.stderr
        return p


def start(base: Path, setup, extra: str = "",  # type: ignore[no-untyped-def]
          catalog: str = "") -> AlertGateway:
    """A started gateway (SQLite, or the ``catalog`` URL) whose evaluator has begun."""
    gw = prepare_gateway(base, setup, policy_extra=POLICY,
                         extra=(f'[catalog]\nurl = "{catalog}"\n' if catalog else "")
                         + "[alerts]\ninterval_ms = 200\n" + extra)
    gw.start()
    agw = AlertGateway(gw)
    agw.settle()  # the evaluator's first round: its cursor starts at the chains' heads
    return agw
