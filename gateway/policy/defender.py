"""Brute-force defender: failed logins scored per source address and per account.

Checked BEFORE any credential is verified (so before LDAP is asked: an attacker's guesses
cannot reach the directory's own lockout). Scores decay exponentially (half-life
``window/2``); reaching the limit bans the key for ``ban_s * 2**(bans so far)`` (capped at
a day) — exponential back-off for repeat offenders. State lives in the catalog
(``auth_failures``), so bans are shared by every process and node. Every ban is audited
(action ``ban``).

The account limit is kept below a directory's lockout threshold (OpenLDAP ppolicy commonly
locks after 5 failures): a banned account is refused by the gateway only, temporarily, and
the directory account stays usable through other services.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Insert, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.catalog.tables import auth_failures
from gateway.core import Core

MAX_BAN = timedelta(days=1)
#: a process re-reads the banned addresses at most this often for logins answered from
#: its credential cache (bans made on another node reach it within this time)
BAN_SNAPSHOT_S = 1.0


@dataclass(frozen=True)
class Limits:
    address_max: float = 10.0
    account_max: float = 4.0
    window_s: float = 600.0
    ban_s: float = 900.0


@dataclass(frozen=True)
class Entry:
    key: str
    score: float
    updated_at: datetime
    banned_until: datetime | None
    ban_count: int


def address_key(remote_addr: str) -> str:
    return f"addr:{remote_addr}"


def account_key(tenant: str, user: str) -> str:
    return f"acct:{tenant}/{user}".lower()[:200]


def _insert_new(conn: Connection, key: str, now: datetime) -> Insert:
    """INSERT of a fresh score row that does nothing if the key has one already (it
    returns the key when it inserted)."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return ins(auth_failures).values(key=key, score=1.0, updated_at=now, banned_until=None,
                                     ban_count=0).on_conflict_do_nothing().returning(
        auth_failures.c.key)


def _aware(t: datetime | None) -> datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=UTC)


class Defender:
    def __init__(self, core: Core, limits: Limits | None = None) -> None:
        self.core = core
        pol = getattr(core.config, "policy", None)
        self.limits = limits or Limits(
            address_max=float(getattr(pol, "defender_max_score", 10)),
            account_max=float(getattr(pol, "defender_account_max_score", 4)),
            window_s=float(getattr(pol, "defender_window_s", 600)),
            ban_s=float(getattr(pol, "defender_ban_s", 900)))
        self._snapshot: tuple[float, dict[str, datetime]] = (-BAN_SNAPSHOT_S, {})
        self._snapshot_lock = threading.Lock()

    def address_banned(self, remote_addr: str) -> str | None:
        """The address's ban key if it is banned, from a snapshot of every ban at most
        ``BAN_SNAPSHOT_S`` old (one query per second per process, whatever the request
        rate): for logins answered from the credential cache, which read nothing else.
        Bans made by any process or node show here within that time."""
        now_m = time.monotonic()
        with self._snapshot_lock:
            taken, bans = self._snapshot
            if now_m - taken >= BAN_SNAPSHOT_S:
                now = datetime.now(UTC)
                with self.core.catalog.read() as conn:
                    rows = conn.execute(select(auth_failures.c.key, auth_failures.c.banned_until)
                                        .where(auth_failures.c.banned_until > now)).all()
                bans = {r.key: _aware(r.banned_until) for r in rows}  # type: ignore[misc]
                self._snapshot = (now_m, bans)
        key = address_key(remote_addr)
        until = bans.get(key)
        return key if until is not None and until > datetime.now(UTC) else None

    def _decay(self, score: float, since: datetime, now: datetime) -> float:
        age = max(0.0, (now - since).total_seconds())
        return score * math.pow(0.5, age / (self.limits.window_s / 2))

    def banned(self, keys: list[str], now: datetime | None = None) -> str | None:
        """The first key that is banned now, or None."""
        now = now or datetime.now(UTC)
        with self.core.catalog.read() as conn:
            rows = conn.execute(select(auth_failures.c.key, auth_failures.c.banned_until)
                                .where(auth_failures.c.key.in_(keys))).all()
        for r in rows:
            until = _aware(r.banned_until)
            if until is not None and until > now:
                return r.key
        return None

    def failure(self, remote_addr: str, tenant: str, user: str, *, chain: str = NO_TENANT_CHAIN,
                protocol: str = "", now: datetime | None = None,
                account: bool = True) -> list[str]:
        """Score one failed attempt against the address and (unless ``account`` is False,
        e.g. from outside the account's networks) the account; returns the keys banned by
        it (each one audited)."""
        now = now or datetime.now(UTC)
        newly: list[tuple[str, datetime]] = []
        pairs = [(address_key(remote_addr), self.limits.address_max)]
        if account:
            pairs.append((account_key(tenant, user), self.limits.account_max))
        with self.core.catalog.write() as conn:
            for key, limit in pairs:
                # the row exists before it is locked: two nodes scoring a new key at once
                # would otherwise both insert it (one failing on the primary key)
                created = conn.execute(_insert_new(conn, key, now)).first() is not None
                row = conn.execute(select(auth_failures).where(auth_failures.c.key == key)
                                   .with_for_update()).first()
                if created or row is None:
                    score, count, until = 1.0, 0, None
                else:
                    score = self._decay(row.score, _aware(row.updated_at), now) + 1.0
                    count, until = row.ban_count, _aware(row.banned_until)
                values: dict[str, object] = {"score": score, "updated_at": now}
                # rounded: failures seconds apart decay a little but count in full
                if round(score, 1) >= limit and (until is None or until <= now):
                    length = min(timedelta(seconds=self.limits.ban_s * 2 ** min(count, 16)),
                                 MAX_BAN)
                    values.update(banned_until=now + length, ban_count=count + 1, score=0.0)
                    newly.append((key, now + length))
                conn.execute(update(auth_failures).where(auth_failures.c.key == key)
                             .values(**values))
            if newly:
                self.core.audit.append(conn, [AuditEvent(
                    action="ban", protocol=protocol or "-", result="denied", chain=chain,
                    tenant=tenant or None, user=user or None, remote_addr=remote_addr,
                    reason=f"banned {k} until {u.isoformat(timespec='seconds')}")
                    for k, u in newly])
        if newly:
            with self._snapshot_lock:
                self._snapshot[1].update(dict(newly))
        return [k for k, _ in newly]

    def success(self, tenant: str, user: str) -> None:
        """A successful login clears the account's failure score (not a ban)."""
        key = account_key(tenant, user)
        with self.core.catalog.write() as conn:
            conn.execute(update(auth_failures).where(auth_failures.c.key == key)
                         .values(score=0.0))

    def list(self, now: datetime | None = None) -> list[Entry]:
        now = now or datetime.now(UTC)
        with self.core.catalog.read() as conn:
            rows = conn.execute(select(auth_failures).order_by(auth_failures.c.key)).all()
        return [Entry(r.key, round(self._decay(r.score, _aware(r.updated_at), now), 2),
                      _aware(r.updated_at), _aware(r.banned_until), r.ban_count) for r in rows
                if (r.banned_until is not None and _aware(r.banned_until) > now)
                or self._decay(r.score, _aware(r.updated_at), now) >= 0.05]

    def unban(self, key: str) -> bool:
        """Lift a ban (``addr:IP``, ``acct:TENANT/USER``, or a bare IP)."""
        if not key.startswith(("addr:", "acct:")):
            key = address_key(key)
        with self.core.catalog.write() as conn:
            return conn.execute(delete(auth_failures).where(auth_failures.c.key == key)
                                ).rowcount > 0
