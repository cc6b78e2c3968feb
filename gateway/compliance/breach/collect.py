"""Stream one tenant's audit events of a window and gather what the incident touched.

Events are read in pages of ``PAGE`` ordered by (ts, id) with keyset pagination (the
``(tenant, ts)`` index serves every page), so memory holds one page plus the summary of
the involved accounts, addresses, sessions and files, never the window's events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from gateway import actor
from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events
from gateway.compliance.breach.indicators import Indicators

PAGE = 1000
MAX_ADMIN = 200  # administrative actions kept (candidates for "measures taken")
MAX_LOGINS = 1000  # login events listed one by one (all are counted per account)
#: protocols of administrators' events: the CLI (``admin``) and the admin HTTP API (``api``)
ADMIN_PROTOCOLS = actor.ADMIN_PROTOCOLS
READ = "read"
DELETE = "delete"
LIST = "list"
LOGIN = "login"
#: actions that change a file or folder (integrity); ``delete`` is availability
CHANGES = frozenset({"write", "move", "copy", "mkdir", "setattr", "proppatch", "truncate"})
#: actions that show a file's metadata (name, size, times) but not its content
METADATA = frozenset({"stat", LIST, "lock", "unlock", "lock-refresh"})
_COLS = (audit_events.c.id, audit_events.c.ts, audit_events.c.user, audit_events.c.protocol,
         audit_events.c.remote_addr, audit_events.c.session_id, audit_events.c.action,
         audit_events.c.path, audit_events.c.dest_path, audit_events.c.bytes,
         audit_events.c.result, audit_events.c.reason)


def utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def stream_events(catalog: Catalog, tenant: str, since: datetime, until: datetime,
                  page: int = PAGE, protocols: tuple[str, ...] | None = None
                  ) -> Iterator[dict[str, Any]]:
    """The tenant's events with ``since <= ts < until`` (of ``protocols``, if given), by
    (ts, id), one page at a time."""
    ts, eid = audit_events.c.ts, audit_events.c.id
    names = [c.name for c in _COLS]
    last: tuple[Any, int] | None = None
    while True:
        # one lower bound the index seeks to: the window's start, then the last page's end
        low = since if last is None else last[0]
        q = select(*_COLS).where(audit_events.c.tenant == tenant, ts >= low, ts < until)
        if protocols is not None:
            q = q.where(audit_events.c.protocol.in_(protocols))
        if last is not None:
            q = q.where(or_(ts > last[0], and_(ts == last[0], eid > last[1])))  # past ties
        with catalog.read() as conn:
            rows = conn.execute(q.order_by(ts, eid).limit(page)).all()
        for row in rows:
            yield dict(zip(names, row, strict=True))
        if len(rows) < page:
            return
        last = (rows[-1].ts, rows[-1].id)


@dataclass
class Span:
    """First and last time something was seen, and how many events."""

    first: datetime | None = None
    last: datetime | None = None
    events: int = 0

    def see(self, ts: datetime) -> None:
        self.first = ts if self.first is None or ts < self.first else self.first
        self.last = ts if self.last is None or ts > self.last else self.last
        self.events += 1


@dataclass
class Account(Span):
    logins_ok: int = 0
    logins_refused: int = 0
    methods: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)
    bytes_read: int = 0
    files_read: set[str] = field(default_factory=set)
    changes: int = 0
    deletes: int = 0
    refused: int = 0
    misses: int = 0  # look-ups of paths that do not exist (probing)


@dataclass
class Address(Span):
    accounts: set[str] = field(default_factory=set)
    logins_ok: int = 0
    logins_refused: int = 0
    bytes_read: int = 0


@dataclass
class Session(Span):
    session_id: str | None = None
    account: str | None = None
    protocol: str = ""
    address: str | None = None
    bytes_read: int = 0
    reads: int = 0
    changes: int = 0


@dataclass
class FileUse:
    """What the incident's events did to one path."""

    path: str
    reads: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    changes: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    metadata_seen: bool = False
    moved_to: str | None = None
    moved_from: str | None = None

    def read(self, who: str, addr: str, protocol: str, nbytes: int, ts: datetime) -> None:
        entry = self.reads.setdefault((who, addr, protocol), [0, 0, ts, ts])
        entry[0] += 1
        entry[1] += nbytes
        entry[2], entry[3] = min(entry[2], ts), max(entry[3], ts)


@dataclass
class Involvement:
    """Everything the selected events touched."""

    scanned: int = 0
    span: Span = field(default_factory=Span)
    actions: Counter[str] = field(default_factory=Counter)
    accounts: dict[str, Account] = field(default_factory=dict)
    addresses: dict[str, Address] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    files: dict[str, FileUse] = field(default_factory=dict)
    listed: dict[str, datetime] = field(default_factory=dict)  # folder -> last listing
    admin_actions: list[str] = field(default_factory=list)  # since the first involved event
    logins: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_LOGINS

    def admin(self, ev: dict[str, Any]) -> None:
        """An administrator's successful action after the breach began (not the report's
        own ``breach-*``): a revoked credential, a disabled account, a policy change."""
        if self.span.first is not None and ev["protocol"] in ADMIN_PROTOCOLS and \
                ev["result"] == "ok" and not ev["action"].startswith("breach-") and \
                len(self.admin_actions) < MAX_ADMIN:
            ts = utc(ev["ts"]).isoformat(timespec="seconds")
            self.admin_actions.append(f"{ts} {ev['action']}"
                                      + (f" {ev['path']}" if ev["path"] else ""))

    def file(self, path: str) -> FileUse:
        return self.files.setdefault(path, FileUse(path))

    def add(self, ev: dict[str, Any]) -> None:
        ts, ok = utc(ev["ts"]), ev["result"] == "ok"
        action, user, addr = ev["action"], ev["user"] or "-", ev["remote_addr"] or "-"
        nbytes = int(ev["bytes"] or 0)
        self.span.see(ts)
        self.actions[f"{action}:{ev['result']}"] += 1
        acct = self.accounts.setdefault(user, Account())
        where = self.addresses.setdefault(addr, Address())
        acct.see(ts)
        where.see(ts)
        acct.addresses.add(addr)
        acct.protocols.add(ev["protocol"])
        where.accounts.add(user)
        if action == LOGIN:
            method = _login(acct, where, ev, ok)
            if len(self.logins) < MAX_LOGINS:
                self.logins.append({"ts": ts, "account": user, "address": addr,
                                    "protocol": ev["protocol"], "result": ev["result"],
                                    "method": method})
            return
        key = ev["session_id"] or f"{ev['protocol']} {user} {addr}"
        sess = self.sessions.setdefault(key, Session(session_id=ev["session_id"], account=user,
                                                     protocol=ev["protocol"], address=addr))
        sess.see(ts)
        path = ev["path"]
        if ev["result"] == "miss":  # nothing there: no file was involved
            acct.misses += 1
            return
        if not ok:
            acct.refused += 1
            if path:
                self.file(path).refused += 1
            return
        if action == READ and path:
            self.file(path).read(user, addr, ev["protocol"], nbytes, ts)
            acct.bytes_read += nbytes
            acct.files_read.add(path)
            where.bytes_read += nbytes
            sess.bytes_read += nbytes
            sess.reads += 1
        elif action in CHANGES or action == DELETE:
            sess.changes += 1
            if action == DELETE:
                acct.deletes += 1
            else:
                acct.changes += 1
            if path:
                use = self.file(path)
                use.changes[action] += 1
                if action == "move" and ev["dest_path"]:
                    use.moved_to = ev["dest_path"]
            if ev["dest_path"]:
                dest = self.file(ev["dest_path"])
                dest.changes[f"{action}-target"] += 1
                if action == "move":
                    dest.moved_from = path
        elif action == LIST and path:
            self.listed[path] = max(ts, self.listed.get(path, ts))
        elif action in METADATA and path:
            self.file(path).metadata_seen = True


def _login(acct: Account, where: Address, ev: dict[str, Any], ok: bool) -> str | None:
    """Count one login; its method, if the event names it."""
    method = None
    if ok:
        acct.logins_ok += 1
        where.logins_ok += 1
    else:
        acct.logins_refused += 1
        where.logins_refused += 1
    for part in (ev["reason"] or "").split(";"):
        if part.strip().startswith("method="):
            method = part.strip()[len("method="):]
            acct.methods.add(method)
    return method


def collect(catalog: Catalog, tenant: str, since: datetime, until: datetime,
            indicators: Indicators) -> Involvement:
    """Scan the window once; keep only the involved events' summary."""
    found = Involvement()
    for ev in stream_events(catalog, tenant, since, until):
        found.scanned += 1
        if indicators.matches(ev):
            found.add(ev)
        else:
            found.admin(ev)
    return found
