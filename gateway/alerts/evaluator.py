"""One round of the evaluator: new audit events -> rules -> fired alerts -> sinks.

``Evaluator.run_once(now=...)`` takes the lease (unless it holds it for more than half
its length still), reads the events after the cursor, runs the rules (the window rules
over ``Windows`` kept between rounds), and in one write transaction (still holding the
lease, which it renews) stores the new alerts with their audit events (action
``alert``), counts duplicates, records seen networks and moves the cursor; then it hands
the new alerts to the sinks and records their delivery state. A round without events
writes nothing. The clock is injectable for tests.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.alerts import state
from gateway.alerts.chaincheck import verify_all
from gateway.alerts.detect import Scope, detect
from gateway.alerts.model import FiredAlert, defaults
from gateway.alerts.sinks import Sink, build_sinks
from gateway.alerts.windows import Windows
from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.core import Core

BATCH = 5000  # events per chain and round


def _on_fired(alert: FiredAlert) -> None:
    """Called once per new (not de-duplicated) alert after it is stored: counted in the
    ``alerts_fired`` metric (under ``serve``, in the supervisor's multiprocess file)."""
    from gateway.metrics import record_alert

    record_alert(alert.rule)


@dataclass
class RoundResult:
    events: int
    fired: list[FiredAlert] = field(default_factory=list)
    repeats: int = 0


class Params:
    """Each rule's parameters for a tenant: ``[alerts]`` defaults under overrides."""

    def __init__(self, base: dict[str, dict[str, Any]],
                 overrides: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.base, self.overrides = base, overrides

    def __call__(self, tenant: str | None, rule: str) -> dict[str, Any]:
        return {**self.base[rule], **self.overrides.get(tenant or "", {}).get(rule, {})}

    def reach(self, rule: str) -> tuple[int, timedelta]:
        """A window rule's highest count threshold and widest window over the defaults
        and every tenant's override (what ``Windows`` must keep)."""
        every = [self(None, rule)] + [self(t, rule) for t in self.overrides]
        return (max(int(p.get("threshold") or p["max_files"]) for p in every),
                timedelta(seconds=max(int(p["window_s"]) for p in every)))


def audit_event(alert: FiredAlert) -> AuditEvent:
    return AuditEvent(action="alert", protocol="alerts", chain=alert.tenant_id or NO_TENANT_CHAIN,
                      tenant=alert.tenant, user=alert.user, remote_addr=alert.remote_addr,
                      reason=f"{alert.rule}: {alert.summary} (alert #{alert.id})")


def chain_alerts(core: Core, now: datetime, names: dict[str, str]) -> list[FiredAlert]:
    by_id = {v: k for k, v in names.items()}
    return [FiredAlert("audit_chain", by_id.get(p.chain), f"chain {by_id.get(p.chain, p.chain)}",
                       now, f"audit chain verification failed: {p.kind} at seq {p.seq}",
                       {"kind": p.kind, "seq": p.seq, "detail": p.detail})
            for p in verify_all(core)]


class Evaluator:
    def __init__(self, core: Core, *, holder: str | None = None,
                 sinks: list[Sink] | None = None) -> None:
        self.core = core
        self.cfg = core.config.alerts
        node = core.config.gateway.node_name or socket.gethostname()
        self.holder = holder or f"{node}:{os.getpid()}:{secrets.token_hex(4)}"
        self.sinks = build_sinks(self.cfg.sinks, core.catalog) if sinks is None else sinks
        self.windows = Windows()
        #: what ``windows`` holds follows from: the cursor this evaluator last saved and
        #: the overrides it used (None: nothing to follow, read the windows again)
        self._followed: tuple[dict[str, int], Any] | None = None
        self._lease_until: datetime | None = None  # as this evaluator last set it

    def run_once(self, now: datetime | None = None) -> RoundResult | None:
        """One round; None when another evaluator holds the lease."""
        now = now or datetime.now(UTC)
        catalog = self.core.catalog
        followed, self._followed = self._followed, None  # until this round has committed
        took = not self._holding(now)
        if took:
            self._lease_until = None
            with catalog.write() as conn:
                if not state.take_lease(conn, self.holder, now, self.cfg.lease_s):
                    return None
            self._lease_until = now + timedelta(seconds=self.cfg.lease_s)
        with catalog.read() as conn:
            row = state.lease_row(conn)
            events, moved = state.new_events(conn, row["cursor"], BATCH)
            names = state.tenant_ids(conn)
            overrides = state.overrides(conn)
            if followed != (row["cursor"], overrides):
                self.windows.reset()
            params = Params(defaults(self.core.config), overrides)
            seen = state.TableSeen(conn)
            found = detect(Scope(conn, params, seen, self.windows, row["cursor"],
                                 params.reach), events)
            stranded_any = bool(state.undelivered(conn, limit=1))
        verified_at = None
        every = self.cfg.verify_interval_s
        last = state.aware(row.get("verified_at"))
        if every and params(None, "audit_chain")["enabled"] and (
                last is None or now - last >= timedelta(seconds=every)):
            found += chain_alerts(self.core, now, names)
            verified_at = now
        result = RoundResult(len(events))
        if not (took or events or found or verified_at or stranded_any):
            self._followed = (moved, overrides)  # nothing to store: no write transaction
            return result
        with catalog.write() as conn:
            if state.still_holder(conn, self.holder) is None:
                self._lease_until = None
                return None
            for alert in sorted(found, key=lambda a: a.at):
                alert.tenant_id = names.get(alert.tenant or "")
                dup = state.duplicate_of(conn, alert, self.cfg.dedupe_window_s)
                if dup is not None:
                    state.count_repeat(conn, dup, alert.at)
                    result.repeats += 1
                    continue
                if alert.exact is not None:  # figures found over a cut window
                    refined = alert.exact(conn)
                    alert.summary, alert.details = refined.summary, refined.details
                state.store(conn, alert, now)
                self.core.audit.append(conn, [audit_event(alert)])
                result.fired.append(alert)
            seen.flush(conn)
            state.save_cursor(conn, moved, verified_at)
            self._lease_until = state.renew(conn, now, self.cfg.lease_s)
            stranded = [a for a in state.undelivered(conn) if a.id not in
                        {f.id for f in result.fired}]
            for a in stranded:
                a.tenant_id = names.get(a.tenant or "")
        self._followed = (moved, overrides)
        self._deliver(stranded + result.fired)
        return result

    def _holding(self, now: datetime) -> bool:
        """This evaluator's lease runs for more than half its length still (as it last
        set it): the round needs no transaction of its own to renew it."""
        until = self._lease_until
        return until is not None and until - now > timedelta(seconds=self.cfg.lease_s / 2)

    def _deliver(self, alerts: list[FiredAlert]) -> None:
        for alert in alerts:
            for sink in self.sinks:
                try:
                    sink.deliver(alert)
                    alert.delivery[sink.name] = "sent" if sink.name == "log" else "queued"
                except Exception as exc:  # one sink failing must not stop the others
                    alert.delivery[sink.name] = f"failed: {type(exc).__name__}: {exc}"[:300]
            _on_fired(alert)
        if alerts:
            with self.core.catalog.write() as conn:
                for alert in alerts:
                    state.set_delivery(conn, alert.id, alert.delivery)  # type: ignore[arg-type]

    def release(self) -> None:
        with self.core.catalog.write() as conn:
            state.release(conn, self.holder, datetime.now(UTC))
