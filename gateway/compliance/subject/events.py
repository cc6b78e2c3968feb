"""The audit events a subject request is about, and erasing the names of its files.

An event is about the data subject when the account did it (``by-subject``), when an
administrator's event names the account (``names-account``: user-create, user-set ...),
or when its path or destination names one of the request's files or folders, or a name
that matches the request (``about-file``), or its reason names the account as
``user@tenant`` (a lock holder in ``lock-break``: ``mentions-account``). Events are
streamed in chain order.

``erase_mentions`` clears path, destination and (when it quotes an erased name) the
reason of the events about the files, whoever did them, and the reason of the events
naming or mentioning the account, the way
``gateway.auditv2.erase`` clears one person's fields: a v2 event keeps the commitments
(its MAC still verifies) and loses the values and their salts; a v1 event gets an erasure
MAC, only over a chain that verifies now.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, or_, select, update

from gateway.audit import EXPORT_COLUMNS
from gateway.auditv2.chain import FORMAT_V1, V1_ERASED, dumps, loads, v1_erasure_mac
from gateway.auditv2.verify import verify_chain
from gateway.catalog.tables import audit_events
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.compliance.subject.scope import Scope
    from gateway.core import Core

#: what an exported or listed event holds (the chain's columns, and why it is listed)
EVENT_COLUMNS = ("id", *EXPORT_COLUMNS, "why")
PATH_FIELDS = ("path", "dest_path")


def _why(scope: Scope, row: Any) -> str | None:
    user = scope.criteria.user
    if user is not None and row["user"] == user:
        return "by-subject"
    if user is not None and row["protocol"] == "admin" and row["path"] == user:
        return "names-account"
    if _names_files(scope) and (scope.about_path(row["path"])
                                or scope.about_path(row["dest_path"])):
        return "about-file"
    if user is not None and row["reason"] and any(
            m in row["reason"].casefold() for m in _mentions(scope)):
        return "mentions-account"
    return None


def _mentions(scope: Scope) -> tuple[str, ...]:
    """How other events' free text names the account (a lock holder, a ban counter)."""
    user, tenant = scope.criteria.user, scope.criteria.tenant
    return (f"{user}@{tenant}", f"acct:{tenant}/{user}")


def _names_files(scope: Scope) -> bool:
    c = scope.criteria
    return bool(scope.files or scope.folders or c.name_pattern or c.text_in_names)


def iter_events(core: Core, scope: Scope) -> Iterator[dict[str, Any]]:
    """Every event of the tenant's chain about the subject, in chain order."""
    q = select(audit_events).where(audit_events.c.chain == scope.tenant_id)
    if not _names_files(scope):  # only the account: the database can filter
        user = scope.criteria.user
        reason = func.lower(audit_events.c.reason)
        q = q.where(or_(audit_events.c.user == user,
                        (audit_events.c.protocol == "admin") & (audit_events.c.path == user),
                        *(reason.contains(m, autoescape=True) for m in _mentions(scope))))
    with core.catalog.read() as conn:
        for row in conn.execute(q.order_by(audit_events.c.seq)
                                .execution_options(yield_per=1000)).mappings():
            why = _why(scope, row)
            if why is not None:
                yield {**{k: row[k] for k in EVENT_COLUMNS if k != "why"}, "why": why}


def erase_mentions(core: Core, scope: Scope) -> int:
    """Clear the paths naming the request's files from every event about them, and the
    free text of events naming or mentioning the account (the account's own events are
    left to ``erase_subject``); returns how many events changed."""
    names = {p.rsplit("/", 1)[-1].casefold() for p in
             [*(f.path for f in scope.files), *scope.folders]}
    whys = {e["id"]: e["why"] for e in iter_events(core, scope) if e["why"] != "by-subject"}
    ids = list(whys)
    if not ids:
        return 0
    key = core.audit.key
    with core.catalog.write() as conn:
        rows = [r for i in range(0, len(ids), 500) for r in conn.execute(
            select(audit_events).where(audit_events.c.id.in_(ids[i:i + 500]))).mappings()]
        if any(r["format"] == FORMAT_V1 for r in rows):
            _require_intact(conn, scope.tenant_id, key)
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        for row in rows:
            reason = row["reason"]
            fields = [f for f in PATH_FIELDS if row[f] is not None] \
                if whys[row["id"]] == "about-file" else []
            if reason and (whys[row["id"]] != "about-file"
                           or any(n and n in reason.casefold() for n in names)
                           or scope.about_path(reason)):
                fields.append("reason")
            if fields:
                _clear(conn, key, row, tuple(fields))
    if core.catalog.is_sqlite:
        with core.catalog.engine.connect() as raw:
            raw.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(ids)


def _clear(conn: Connection, key: bytes, row: Any, fields: tuple[str, ...]) -> None:
    cleared = {f: None for f in fields}
    if row["format"] == FORMAT_V1:
        left = {**row, **cleared}
        conn.execute(update(audit_events).where(audit_events.c.id == row["id"]).values(
            commitments=dumps({V1_ERASED: v1_erasure_mac(key, left)}), **cleared))
        return
    salts = loads(row["salts"])
    for f in fields:
        salts.pop(f, None)
    conn.execute(update(audit_events).where(audit_events.c.id == row["id"])
                 .values(salts=dumps(salts), **cleared))


def _require_intact(conn: Connection, chain: str, key: bytes) -> None:
    problem = verify_chain(conn, chain, key)
    if problem is not None:
        raise GatewayError(f"the audit chain does not verify (event {problem.seq}: "
                           f"{problem.kind}, {problem.detail}); run `lumanox-gateway audit "
                           "verify` and resolve that before erasing")
