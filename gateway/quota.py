"""Quota accounting: usage counters on the tenant and user rows, read and charged in SQL.

The counters (``used_bytes``, ``used_files``) live on ``tenants`` and ``users`` next to
their limits. A charge is one conditional ``UPDATE`` per row ("add unless it would pass
the quota"), so the check and the change are atomic across processes and gateway nodes;
it runs inside the caller's transaction, which makes it visible together with the
namespace change it pays for. Functions take an open connection (the caller decides the
transaction) and the ids they work on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Connection, select

from gateway.catalog.db import RawSQL, run_raw
from gateway.catalog.tables import users
from gateway.errors import NotFound, QuotaExceeded

#: usage deltas per owner (user id, None for an owner that no longer exists): [bytes, files]
Deltas = dict[str | None, list[int]]

# every upload reads and charges usage: on the driver's cursor
_USAGE = RawSQL(
    "SELECT t.used_bytes, t.quota_bytes, t.used_files, t.quota_files, u.used_bytes, "
    "u.quota_bytes, u.used_files, u.quota_files FROM tenants t "
    "LEFT OUTER JOIN users u ON u.id = :u WHERE t.id = :t")


@dataclass(frozen=True)
class Usage:
    """Quota and usage for statvfs / RFC 4331: the tighter of tenant and user limits."""

    used_bytes: int
    quota_bytes: int | None
    used_files: int
    quota_files: int | None

    @property
    def available_bytes(self) -> int | None:
        return None if self.quota_bytes is None else max(0, self.quota_bytes - self.used_bytes)


def read_usage(conn: Connection, tenant_id: str, user_id: str | None) -> Usage:
    """Used and allowed bytes/files: the tighter of the tenant's and the user's."""
    row = run_raw(conn, _USAGE, {"t": tenant_id, "u": user_id}).fetchone()
    if row is None:
        raise NotFound("the tenant no longer exists")
    candidates = [tuple(row[:4])]
    if row[4] is not None:  # the user still exists
        candidates.append(tuple(row[4:]))

    def room(c: tuple) -> float:
        return float("inf") if c[1] is None else c[1] - c[0]

    def room_files(c: tuple) -> float:
        return float("inf") if c[3] is None else c[3] - c[2]

    b = min(candidates, key=room)
    f = min(candidates, key=room_files)
    return Usage(b[0], b[1], f[2], f[3])


def precheck(conn: Connection, tenant_id: str, user_id: str | None, add_bytes: int,
             add_files: int) -> Usage:
    """Refuse an upload that cannot fit (before its body arrives); returns the usage read.

    Advisory: the commit's ``charge`` is what enforces the quota atomically."""
    return check_room(read_usage(conn, tenant_id, user_id), add_bytes, add_files)


def check_room(usage: Usage, add_bytes: int, add_files: int) -> Usage:
    """``precheck`` against usage read earlier (in the same request); returns it."""
    if usage.quota_bytes is not None and add_bytes > 0 and \
            usage.used_bytes + add_bytes > usage.quota_bytes:
        raise QuotaExceeded("not enough quota for this upload")
    if usage.quota_files is not None and add_files > 0 and \
            usage.used_files + add_files > usage.quota_files:
        raise QuotaExceeded("file count quota reached")
    return usage


_ADD_USAGE = {
    "tenants": "UPDATE tenants SET used_bytes = used_bytes + :b, used_files = used_files + :f "
               "WHERE id = :row",
    "users": "UPDATE users SET used_bytes = used_bytes + :b, used_files = used_files + :f "
             "WHERE id = :row AND tenant_id = :tenant"}


@functools.cache
def _usage_update(table: str, check_bytes: bool, check_files: bool) -> RawSQL:
    """``UPDATE <tenants|users> SET used += :b, :f WHERE <row> [AND it still fits]``."""
    sql = _ADD_USAGE[table]
    if check_bytes:
        sql += " AND (quota_bytes IS NULL OR used_bytes + :b <= quota_bytes)"
    if check_files:
        sql += " AND (quota_files IS NULL OR used_files + :f <= quota_files)"
    return RawSQL(sql)


def _add_usage(conn: Connection, table: str, params: dict[str, str], add_bytes: int,
               add_files: int) -> bool:
    """Add to a row's usage counters unless a positive addition would pass its quota.

    One conditional UPDATE, so the check and the change are atomic across processes.
    Returns False when the row is missing or over quota."""
    stmt = _usage_update(table, add_bytes > 0, add_files > 0)
    return run_raw(conn, stmt, {**params, "b": add_bytes, "f": add_files}).rowcount == 1


def charge(conn: Connection, tenant_id: str, deltas: Deltas) -> None:
    """Apply usage deltas atomically; QuotaExceeded if a positive delta does not fit."""
    total_b = sum(d[0] for d in deltas.values())
    total_f = sum(d[1] for d in deltas.values())
    if (total_b or total_f) and not _add_usage(conn, "tenants", {"row": tenant_id}, total_b,
                                               total_f):  # (a same-size version: no change)
        raise QuotaExceeded("the tenant's storage quota is exhausted")
    for owner, (db, df) in sorted(deltas.items(), key=lambda kv: kv[0] or ""):
        if owner is None or (db == 0 and df == 0):
            continue
        params = {"row": owner, "tenant": tenant_id}
        if not _add_usage(conn, "users", params, db, df) and (db > 0 or df > 0):
            known = conn.execute(select(users.c.id).where(users.c.id == owner)).first()
            if known is not None:  # a deleted owner has no quota to exceed
                raise QuotaExceeded("your storage quota is exhausted")
