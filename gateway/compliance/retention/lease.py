"""The retention job's lease: a catalog row (holder, expiry, last run) so that of several
gateway nodes over one catalog only one runs retention at a time, and only when a run is
due. A holder that dies loses the lease when it expires; a long run renews it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gateway.catalog import Catalog
from gateway.catalog.tables import retention_lease
from gateway.compliance.retention.common import utc

NAME = "retention"


def take(catalog: Catalog, holder: str, now: datetime, *, lease_s: int,
         run_every_s: int) -> bool:
    """True if ``holder`` now holds the lease and a run is due."""
    try:
        with catalog.write() as conn:
            row = conn.execute(select(retention_lease).where(retention_lease.c.name == NAME)
                               .with_for_update()).first()
            until = now + timedelta(seconds=lease_s)
            if row is None:
                conn.execute(retention_lease.insert().values(name=NAME, holder=holder,
                                                             expires_at=until))
                return True
            if row.holder not in (None, holder) and utc(row.expires_at) > now:  # type: ignore[operator]
                return False  # another node is running
            last = utc(row.last_run_at)
            if last is not None and last + timedelta(seconds=run_every_s) > now:
                return False  # not due yet
            conn.execute(update(retention_lease).where(retention_lease.c.name == NAME)
                         .values(holder=holder, expires_at=until))
            return True
    except IntegrityError:  # another node inserted the row first
        return False


def renew(catalog: Catalog, holder: str, now: datetime, lease_s: int) -> None:
    with catalog.write() as conn:
        conn.execute(update(retention_lease).where(
            retention_lease.c.name == NAME, retention_lease.c.holder == holder)
            .values(expires_at=now + timedelta(seconds=lease_s)))


def finish(catalog: Catalog, holder: str, now: datetime, *, ran: bool = True) -> None:
    """Give the lease up (recording the run's time if it ran to the end)."""
    values = {"holder": None, "expires_at": None}
    if ran:
        values["last_run_at"] = now  # type: ignore[assignment]
    with catalog.write() as conn:
        conn.execute(update(retention_lease).where(
            retention_lease.c.name == NAME, retention_lease.c.holder == holder).values(**values))


def state(catalog: Catalog) -> dict | None:
    with catalog.read() as conn:
        row = conn.execute(select(retention_lease).where(retention_lease.c.name == NAME)).first()
    return None if row is None else {"holder": row.holder, "expires_at": utc(row.expires_at),
                                     "last_run_at": utc(row.last_run_at)}
