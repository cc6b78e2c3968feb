"""Session slots: the session limits of tenants and users, counted across processes and
gateway nodes in the catalog (table ``auth_sessions``).

``open_session`` admits one more session of a principal or raises ``TooManySessions``
(audited as a refused login); the ``SessionTicket`` it returns re-decides the login now
and then (``recheck``) and frees the slot on ``close``. Whenever a slot is taken, the
slots of processes of this node that no longer run are reaped, and so are the slots of
other nodes whose heartbeat (gateway/heartbeat.py) is older than ``[gateway]
node_stale_after_s`` (a crashed machine). Counting and taking a slot is one
transaction serialised per tenant (``serialise``), so limits hold across nodes.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, func, select, text

from gateway.catalog.heartbeats import stale_nodes
from gateway.catalog.tables import auth_sessions
from gateway.errors import AuthenticationFailed
from gateway.policy.attempts import Attempt, LoginRefused
from gateway.principal import Principal
from gateway.runstate import pid_alive

if TYPE_CHECKING:
    from gateway.policy.gatelike import GateLike


class TooManySessions(AuthenticationFailed):
    """A tenant or user session limit is reached."""

    reason = "session-limit"


@dataclass
class SessionTicket:
    """An admitted session; ``close()`` releases its slot."""

    principal: Principal
    protocol: str
    closed: bool = False
    id: str = ""
    gate: GateLike | None = field(default=None, repr=False)

    remote_addr: str = ""
    checked_at: float = 0.0

    def recheck(self, every_s: float = 30.0, protocol: str = "") -> None:
        """Re-decide the session's principal (tenant/user disabled, expired, protocol,
        method or network rules changed) for ``protocol`` (an SSH channel's: ``sftp`` or
        ``scp``; default the ticket's) at most every ``every_s`` seconds; raises
        LoginRefused. Long-lived (SSH) sessions call this before operations."""
        now = time.monotonic()
        if self.gate is None or now - self.checked_at < every_s:
            return
        self.checked_at = now
        self.gate.check_protocol(self.principal, protocol or self.protocol, self.remote_addr)

    def close(self) -> None:
        if not self.closed and self.gate is not None and self.id:
            with self.gate.core.catalog.write() as conn:
                conn.execute(delete(auth_sessions).where(auth_sessions.c.id == self.id))
        self.closed = True


def open_session(gate: GateLike, principal: Principal, protocol: str,
                 remote_addr: str) -> SessionTicket:
    """Admit one more session of this principal (session limits of tenant and user,
    counted across processes in the catalog). Close the ticket at the end of the
    session. Raises ``TooManySessions``."""
    loaded = gate.load(protocol, principal.tenant_name, principal.user_name, remote_addr)
    t, u = loaded.facts.tenant, loaded.facts.user
    if t is None or u is None:
        raise LoginRefused("account gone")
    user_limits = [x for x in (t.policy.max_sessions_per_user, u.policy.max_sessions)
                   if x is not None]
    sid = uuid.uuid4().hex
    with gate.core.catalog.write() as conn:
        serialise(conn, t.id)
        reap(conn, gate.node, gate.core.config.gateway.node_stale_after_s)
        base = select(func.count()).select_from(auth_sessions).where(
            auth_sessions.c.tenant_id == t.id)
        if t.policy.max_sessions is not None and \
                conn.execute(base).scalar_one() >= t.policy.max_sessions:
            detail = f"tenant session limit {t.policy.max_sessions} reached"
        elif user_limits and conn.execute(base.where(
                auth_sessions.c.user_id == u.id)).scalar_one() >= min(user_limits):
            detail = f"user session limit {min(user_limits)} reached"
        else:
            detail = ""
            conn.execute(auth_sessions.insert().values(
                id=sid, tenant_id=t.id, user_id=u.id, protocol=protocol,
                remote_addr=remote_addr[:64], node=gate.node[:128], pid=os.getpid(),
                started_at=datetime.now(UTC)))
    if detail:
        gate.audit_login(Attempt(protocol, principal.display, remote_addr), "denied",
                         detail, principal)
        raise TooManySessions(detail)
    return SessionTicket(principal, protocol, id=sid, gate=gate, remote_addr=remote_addr,
                         checked_at=time.monotonic())


def serialise(conn: Connection, tenant_id: str) -> None:
    """Make this transaction the only one counting the tenant's sessions until it ends.

    Under PostgreSQL's READ COMMITTED two nodes could both count N-1 sessions and both
    insert the Nth: a transaction-scoped advisory lock per tenant (not the tenant row,
    which uploads lock) orders them. SQLite's ``BEGIN IMMEDIATE`` orders every writer."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                     {"k": f"lumanox/sessions/{tenant_id}"})


def reap(conn: Connection, node: str, stale_after_s: int = 0) -> None:
    """Forget sessions of processes of this node that no longer run and, unless
    ``stale_after_s`` is 0, every session of other nodes whose heartbeat is older than
    that. A node that never heartbeat (an older version still running during an upgrade)
    keeps its slots: only it knows whether its processes live."""
    rows = conn.execute(select(auth_sessions.c.id, auth_sessions.c.pid).where(
        auth_sessions.c.node == node[:128])).all()
    dead = [r.id for r in rows if not pid_alive(r.pid)]
    if dead:
        conn.execute(delete(auth_sessions).where(auth_sessions.c.id.in_(dead)))
    if stale_after_s > 0:
        conn.execute(delete(auth_sessions).where(
            auth_sessions.c.node.in_(stale_nodes(conn, stale_after_s, but=node))))
