"""The retention policy the core obeys when it deletes or replaces: legal holds and the
tenant's trash (managed by gateway/compliance/retention; the core only reads them here).

Paths are compared as keys: each component's ``name_key`` (case-folded on a
case-insensitive tenant) joined by "/", "/" being the whole tenant. A hold covers its own
path and everything below it; deleting or moving a folder is refused when a hold covers
the folder or lies anywhere inside it.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, select

from gateway.catalog.db import RawSQL, run_raw
from gateway.catalog.tables import trash_policy
from gateway.names import name_key


class Hold(NamedTuple):
    id: str
    path: str
    path_key: str
    reason: str


class DeletionPolicy(NamedTuple):
    """What a deletion must respect: the hold that forbids it (or None), and the days
    the tenant's trash keeps what is deleted (None: trash off, delete for good)."""

    hold: Hold | None
    trash_days: int | None


def path_key(parts: list[str], case_insensitive: bool) -> str:
    """The comparable form of a split path ("/" for the root)."""
    return "/" + "/".join(name_key(p, case_insensitive) for p in parts)


def covers(hold_key: str, key: str, subtree: bool) -> bool:
    """True if a hold at ``hold_key`` forbids deleting ``key`` (with ``subtree``: the
    folder at ``key`` and everything below it)."""
    if hold_key == "/" or key == hold_key or key.startswith(hold_key + "/"):
        return True
    return subtree and (key == "/" or hold_key.startswith(key + "/"))


# every overwrite runs it (the replaced file may be held): on the driver's cursor
_HOLDS = RawSQL("SELECT id, path, path_key, reason FROM legal_holds WHERE tenant_id = :t "
                "ORDER BY created_at, id")


def holds_of(conn: Connection, tenant_id: str) -> list[Hold]:
    """Every active hold of the tenant (a short list: one row per hold)."""
    return [Hold(*r) for r in run_raw(conn, _HOLDS, {"t": tenant_id}).fetchall()]


def deletion_policy(conn: Connection, tenant_id: str, keys: list[str], *, subtree: bool,
                    trash: bool = False) -> DeletionPolicy:
    """The hold covering any of ``keys`` (see ``covers``) and, with ``trash``, the
    tenant's trash days; read in the caller's transaction."""
    hold = next((h for h in holds_of(conn, tenant_id)
                 for k in keys if covers(h.path_key, k, subtree)), None)
    days = conn.execute(select(trash_policy.c.days).where(
        trash_policy.c.tenant_id == tenant_id)).scalar() if trash else None
    return DeletionPolicy(hold, days)


def hold_message(path: str, hold: Hold) -> str:
    """The refusal's text: the path, the hold and its reason, and how it ends."""
    return (f"{path} is under legal hold {hold.id} on {hold.path} ({hold.reason}); "
            "nothing under it can be deleted, replaced or moved until it is released "
            "(`lumanox-gateway hold release`)")
