"""The login history: every ``login`` event of a tenant (or one user), oldest first.

The gate writes one event per attempt and per SSH authentication step
(gateway/policy/gate.py ``audit_login``), with the reason
``method=METHOD; <decision>; client=CLIENT`` (each part only when known). A history row
splits it: the method, the client software, the decision's words, whether this was a
partial step of a multi-factor login, and the second factor used (``totp`` when the
decision's ``sufficient`` rule names it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.compliance.reports.events import iter_events
from gateway.compliance.reports.scope import Scope, conditions

ev = audit_events.c
COLUMNS = ("ts", "user", "result", "success", "remote_addr", "protocol", "method",
           "second_factor", "client", "step", "detail", "session_id")


def parse_reason(reason: str | None) -> dict[str, str | None]:
    """``method=...; decision...; client=...`` -> method, client, detail (None if absent)."""
    text = reason or ""
    method = client = None
    if text.startswith("method="):
        head, _, text = text.partition("; ")
        method = head.removeprefix("method=")
    if text.startswith("client="):
        client, text = text.removeprefix("client="), ""
    elif "; client=" in text:
        text, _, client = text.partition("; client=")
    return {"method": method, "client": client, "detail": text or None}


def second_factor(detail: str | None) -> str | None:
    """``totp`` when the accepting decision's ``sufficient`` rule lists a TOTP factor."""
    for part in (detail or "").split("; "):
        if part.startswith("sufficient: ") and "totp" in part.split(": ", 1)[1].split(" + "):
            return "totp"
    return None


def login_row(event: dict[str, Any]) -> dict[str, Any]:
    """One history row from a ``login`` event."""
    parts = parse_reason(event["reason"])
    partial = (parts["detail"] or "").startswith("partial success")
    return {"ts": event["ts"], "user": event["user"], "result": event["result"],
            "success": event["result"] == "ok" and not partial,
            "remote_addr": event["remote_addr"], "protocol": event["protocol"],
            "method": parts["method"], "second_factor": second_factor(parts["detail"]),
            "client": parts["client"], "step": "partial" if partial else "final",
            "detail": parts["detail"], "session_id": event["session_id"]}


def iter_logins(catalog: Catalog, scope: Scope) -> Iterator[dict[str, Any]]:
    """The history rows of ``scope`` (its action filter is ignored), streamed."""
    for event in iter_events(catalog, scope, action="login"):
        yield login_row(event)


@dataclass
class LoginReport:
    scope: Scope
    generated: datetime
    summary: dict[str, int]
    by_user: list[dict[str, Any]] = field(default_factory=list)

    def head(self) -> dict[str, Any]:
        return {"report": "logins", "generated": self.generated.isoformat(timespec="seconds"),
                "scope": self.scope.as_dict(), "summary": self.summary,
                "by_user": self.by_user}


def login_report(catalog: Catalog, scope: Scope) -> LoginReport:
    """Counts of ``scope``'s login events (the rows come from ``iter_logins``): attempts,
    accepted steps (``ok``, including partial SSH steps) and refusals, overall and per
    user."""
    where = conditions(scope, action="login")
    ok = func.coalesce(func.sum(case((ev.result == "ok", 1), else_=0)), 0)
    q = select(ev.user, func.count().label("attempts"), ok.label("ok")).where(where) \
        .group_by(ev.user)
    with catalog.read() as conn:
        rows = [{"user": r.user or "", "attempts": int(r.attempts), "ok": int(r.ok or 0),
                 "failed": int(r.attempts) - int(r.ok or 0)} for r in conn.execute(q)]
    rows.sort(key=lambda r: (-r["attempts"], r["user"]))
    summary = {"attempts": sum(r["attempts"] for r in rows),
               "ok": sum(r["ok"] for r in rows), "failed": sum(r["failed"] for r in rows),
               "users": len(rows)}
    return LoginReport(scope, datetime.now(UTC), summary, rows)
