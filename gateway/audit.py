"""Audit: one event per operation, stored in the catalog as a per-tenant hash chain; the
JSON-lines stream (``audit.log``) is an export of the catalog (gateway/auditv2/export.py).

Each event's hash is an HMAC-SHA-256 under the audit key (gateway/auditv2: the catalog
holds it only wrapped by the master key) over the previous event's hash and the canonical
JSON of the event's fields (including its sequence number), each personal field (user,
address, paths) replaced by a salted commitment; so a modified, inserted or deleted event
breaks the chain at a point ``verify`` reports, even if the writer could write the
database, and erasing a person's values keeps the chain verifiable. The chain head (last
seq and hash) is kept in ``audit_heads`` and updated in the same transaction as the
events, which also serialises appends across processes; a checkpoint file outside the
catalog records the heads so that a truncated chain is detected too.

Events that accompany a change of the namespace are appended in the SAME transaction as the
change (the change is visible if and only if it is audited). Other events (reads, listings,
refusals) are queued and written in batches by a background thread: one transaction per
batch keeps small-file throughput high. ``flush()`` and ``close()`` drain the queue.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, select

from gateway.auditv2.chain import FORMAT_V2, GENESIS, commit_personal, dumps, v1_hash, v2_mac
from gateway.auditv2.checkpoint import CheckpointWriter
from gateway.auditv2.verify import ChainProblem, verify_chain
from gateway.catalog import Catalog
from gateway.catalog.db import RawSQL, db_time, run_raw, run_raw_many
from gateway.catalog.tables import audit_events, audit_heads

__all__ = ["GENESIS", "AuditEvent", "AuditLog", "ChainProblem", "event_hash", "verify_chain"]
#: the v1 (plain SHA-256) event hash, kept for chains written before migration 0006
event_hash = v1_hash
NO_TENANT_CHAIN = "-"
log = logging.getLogger(__name__)


# every write transaction runs these: straight to the driver (``db.run_raw``)
_HEAD = RawSQL("SELECT seq, hash FROM audit_heads WHERE chain = :chain", for_update=True)
_MOVE_HEAD = RawSQL("UPDATE audit_heads SET seq = :seq, hash = :hash WHERE chain = :chain")
_NEW_HEAD = RawSQL("INSERT INTO audit_heads (chain, seq, hash) VALUES (:chain, :seq, :hash)")
_INSERT_EVENTS = RawSQL("""
    INSERT INTO audit_events ("chain", "seq", "ts", "tenant", "user", "protocol", "remote_addr",
        "session_id", "action", "path", "dest_path", "bytes", "sha256", "duration_ms", "result",
        "reason", "prev_hash", "hash", "format", "commitments", "salts")
    VALUES (:chain, :seq, :ts, :tenant, :user, :protocol, :remote_addr, :session_id, :action,
        :path, :dest_path, :bytes, :sha256, :duration_ms, :result, :reason, :prev_hash, :hash,
        :format, :commitments, :salts)""")


@dataclass
class AuditEvent:
    """One audited operation. ``chain`` is the tenant id (or ``-``)."""

    action: str
    protocol: str
    result: str = "ok"  # ok | denied | miss | error (gateway/outcomes.py)
    chain: str = NO_TENANT_CHAIN
    tenant: str | None = None
    user: str | None = None
    remote_addr: str | None = None
    session_id: str | None = None
    path: str | None = None
    dest_path: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    duration_ms: int | None = None
    reason: str | None = None
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""

    def fields(self) -> dict[str, Any]:
        """The fields as a new dict (shallow: every value is immutable; ``asdict`` would
        deep-copy them, several times slower on this hot path)."""
        return dict(self.__dict__)


class AuditObserver(Protocol):
    """Sees every event once, when it is appended or queued, and every stored batch of
    queued events (gateway/metrics fills ``AuditLog.observer``; the core imports none)."""

    def event(self, event: AuditEvent) -> None: ...

    def batch(self, size: int, seconds: float, waiting: int) -> None: ...


class AuditLog:
    """Appends events to the catalog."""

    def __init__(self, catalog: Catalog, key: bytes, *, batch_max_events: int = 256,
                 batch_max_delay_ms: int = 20, checkpoint: CheckpointWriter | None = None) -> None:
        self.catalog = catalog
        self.key = key
        self._checkpoint = checkpoint
        self._tick = checkpoint.interval_s if checkpoint else None
        self._dirty = False
        self._queue: queue.Queue[AuditEvent | None] = queue.Queue()
        self._batch_max = batch_max_events
        self._delay = batch_max_delay_ms / 1000
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._closed = False
        #: set by gateway.metrics in the processes that count; None costs one test per event
        self.observer: AuditObserver | None = None
        self._thread.start()

    # --- appending --------------------------------------------------------------------
    def append(self, conn: Connection, events: Iterable[AuditEvent]) -> None:
        """Chain and insert events inside the caller's write transaction."""
        self._append(conn, events, self.observer)

    def _append(self, conn: Connection, events: Iterable[AuditEvent],
                observer: AuditObserver | None) -> None:
        by_chain: dict[str, list[AuditEvent]] = {}
        for ev in events:
            by_chain.setdefault(ev.chain, []).append(ev)
            if observer is not None:
                observer.event(ev)
        rows = []
        for chain in sorted(by_chain):  # fixed order: no lock-order deadlocks on PostgreSQL
            head = run_raw(conn, _HEAD, {"chain": chain}).fetchone()
            seq, prev = (head[0], head[1]) if head else (0, GENESIS)
            for ev in by_chain[chain]:
                seq += 1
                ev.seq, ev.prev_hash = seq, prev
                fields = ev.fields()
                commitments, salts = commit_personal(fields)
                ev.hash = prev = v2_mac(self.key, prev, fields, commitments, ev.ts)
                fields.update(hash=ev.hash, format=FORMAT_V2, commitments=dumps(commitments),
                              salts=dumps(salts), ts=db_time(conn, ev.ts))
                rows.append(fields)
            run_raw(conn, _MOVE_HEAD if head else _NEW_HEAD,
                    {"chain": chain, "seq": seq, "hash": prev})
        if rows:
            self._dirty = True
            run_raw_many(conn, _INSERT_EVENTS, rows)

    def record(self, event: AuditEvent) -> None:
        """Queue an event for the background writer."""
        if self._closed:
            self.write_now([event])
            return
        if self.observer is not None:
            self.observer.event(event)
        with self._idle:
            self._pending += 1
        self._queue.put(event)

    def write_now(self, events: list[AuditEvent], *, observed: bool = False) -> None:
        """Store events in a transaction of their own (``observed``: already seen by the
        observer when they were queued)."""
        with self.catalog.write() as conn:
            self._append(conn, events, None if observed else self.observer)

    # --- background writer ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._tick)
            except queue.Empty:
                if self._dirty:  # namespace changes appended by sessions since
                    self._checkpoint_now(force=False)
                continue
            if first is None:
                return
            batch = [first]
            try:
                while len(batch) < self._batch_max:
                    ev = self._queue.get(timeout=self._delay) if self._delay else \
                        self._queue.get_nowait()
                    if ev is None:
                        self._queue.put(None)
                        break
                    batch.append(ev)
            except queue.Empty:
                pass
            self._write_batch(batch)

    def _write_batch(self, batch: list[AuditEvent]) -> None:
        started = time.perf_counter()
        for attempt in range(5):
            try:
                self.write_now(batch, observed=True)
                break
            except Exception:  # a locked or unreachable database: retry, then report loudly
                if attempt == 4:
                    log.exception("audit: could not store %d events", len(batch))
                    for ev in batch:  # never lose them silently: at least the error log
                        log.error("audit: unstored event %s", _unstored(ev))
                threading.Event().wait(0.05 * (attempt + 1))
        self._checkpoint_now(force=False)
        with self._idle:
            self._pending -= len(batch)
            waiting = self._pending
            self._idle.notify_all()
        if self.observer is not None:
            self.observer.batch(len(batch), time.perf_counter() - started, waiting)

    def _checkpoint_now(self, *, force: bool) -> None:
        if self._checkpoint is None:
            return
        try:
            if force or self._checkpoint.due():
                self._dirty = False
                self._checkpoint.write()
        except Exception:  # never stop auditing over the checkpoint; say so loudly
            log.exception("audit: could not write the checkpoint %s", self._checkpoint.path)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued event is stored."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)
        if self._dirty:
            self._checkpoint_now(force=True)


def _unstored(ev: AuditEvent) -> str:
    data = ev.fields()
    data["ts"] = ev.ts.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(data, sort_keys=True, default=str)


# --- verification and queries ---------------------------------------------------------------
def chains(conn: Connection) -> list[str]:
    names = set(conn.execute(select(audit_heads.c.chain)).scalars())
    names |= set(conn.execute(select(audit_events.c.chain).distinct()).scalars())
    return sorted(names)


EXPORT_COLUMNS = ("seq", "ts", "tenant", "user", "protocol", "remote_addr", "session_id",
                  "action", "path", "dest_path", "bytes", "sha256", "duration_ms", "result",
                  "reason")
#: output formats of ``render_events``: json is one document, jsonl one object per line
FORMATS = ("table", "csv", "json", "jsonl")


def _time_order(newest_first: bool = False) -> list[Any]:
    """Events by time; ties (same timestamp) by chain sequence, then by storage order.

    Storage order (id, and the chain's seq) is not time order: queued events (logins,
    reads) are stored in batches after the write their session did in its own
    transaction."""
    cols = (audit_events.c.ts, audit_events.c.seq, audit_events.c.id)
    return [c.desc() for c in cols] if newest_first else list(cols)


def query_events(conn: Connection, *, tenant: str | None = None, user: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 action: str | None = None, path: str | None = None,
                 limit: int | None = None, newest_first: bool = False,
                 result: str | None = None) -> Iterator[dict]:
    q = select(audit_events)
    if tenant:
        q = q.where(audit_events.c.tenant == tenant)
    if user:
        q = q.where(audit_events.c.user == user)
    if since:
        q = q.where(audit_events.c.ts >= since)
    if until:
        q = q.where(audit_events.c.ts < until)
    if action:
        q = q.where(audit_events.c.action == action)
    if result:
        q = q.where(audit_events.c.result == result)
    if path:
        q = q.where(audit_events.c.path.startswith(path, autoescape=True))
    q = q.order_by(*_time_order(newest_first))
    if limit:
        q = q.limit(limit)
    for row in conn.execute(q.execution_options(yield_per=500)).mappings():
        yield {k: row[k] for k in EXPORT_COLUMNS}


def tail_events(conn: Connection, lines: int) -> tuple[list[dict], int | None]:
    """The ``lines`` most recent events by time, oldest first, and the highest id seen."""
    rows = list(conn.execute(select(audit_events).order_by(*_time_order(newest_first=True))
                             .limit(lines)).mappings())
    rows.reverse()
    top = conn.execute(select(audit_events.c.id).order_by(audit_events.c.id.desc())
                       .limit(1)).scalar()
    return [{k: r[k] for k in EXPORT_COLUMNS} for r in rows], top


def events_after(conn: Connection, after_id: int | None) -> tuple[list[dict], int | None]:
    """Events stored after ``after_id`` (for ``tail -f``), in time order, and the new top."""
    q = select(audit_events)
    if after_id is not None:
        q = q.where(audit_events.c.id > after_id)
    rows = list(conn.execute(q.order_by(*_time_order())).mappings())
    top = max((r["id"] for r in rows), default=after_id)
    return [{k: r[k] for k in EXPORT_COLUMNS} for r in rows], top


def _with_text_ts(row: dict) -> dict:
    r = dict(row)
    ts = r["ts"]
    if isinstance(ts, datetime):
        ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
        r["ts"] = ts.isoformat(timespec="milliseconds")
    return r


TABLE_COLUMNS = ("ts", "tenant", "user", "protocol", "action", "path", "bytes", "result",
                 "reason")


def render_events(events: Iterable[dict], fmt: str, *, header: bool = True) -> Iterator[str]:
    """The events as text, in pieces (each ends with a newline), streaming where the format
    allows (all but table). Table and CSV show control characters as visible escapes
    (``gateway.textout.printable``); JSON escapes them the JSON way."""
    from gateway.textout import json_safe, printable, table

    rows = (_with_text_ts(r) for r in events)
    if fmt == "jsonl":
        for r in rows:
            yield json_safe(json.dumps(r, ensure_ascii=False)) + "\n"
    elif fmt == "json":
        sep = "[\n"
        for r in rows:
            yield sep + json_safe(json.dumps(r, ensure_ascii=False))
            sep = ",\n"
        yield "[]\n" if sep == "[\n" else "\n]\n"
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS)
        if header:
            writer.writeheader()
        for r in rows:
            writer.writerow({k: printable(v) if isinstance(v, str) else v
                             for k, v in r.items()})
            yield buf.getvalue().replace("\r\n", "\n")
            buf.seek(0)
            buf.truncate()
        if header and buf.getvalue():
            yield buf.getvalue().replace("\r\n", "\n")
    elif fmt == "table":
        text = table([[("" if r[c] is None else str(r[c])) for c in TABLE_COLUMNS]
                      for r in rows], TABLE_COLUMNS)
        body = text.splitlines()[0 if header else 2:]
        if body:
            yield "\n".join(body) + "\n"
    else:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def format_events(events: Iterable[dict], fmt: str) -> str:
    """``render_events`` as one string (without the final newline)."""
    return "".join(render_events(events, fmt)).rstrip("\n")
