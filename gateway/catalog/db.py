"""Catalog connection: one SQLAlchemy engine, read and write transactions, migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on.
Write transactions start with ``BEGIN IMMEDIATE`` so that two processes never deadlock on a
lock upgrade; read transactions are deferred and run beside a writer. On PostgreSQL a write
transaction is an ordinary transaction; rows that serialise writers are taken ``FOR UPDATE``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from gateway.catalog.groupcommit import GroupCommitter
from gateway.catalog.writerlock import WriterLock
from gateway.errors import ConfigError, SchemaOutOfDate

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)
#: names a file that receives one line per catalog transaction and statement (benchmarks:
#: ``bench/count_statements.py``); unset in production
TRACE_ENV = "LUMANOX_CATALOG_TRACE"


def _file_tracer(path: str) -> Callable[[str], None]:
    """A tracer appending ``<pid> <what>`` lines to ``path`` (O_APPEND: processes mix safely)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return lambda what: os.write(fd, f"{os.getpid()} {what[:120]}\n".encode())


#: called with ``tx read`` / ``tx write`` / ``sql <statement>`` (through SQLAlchemy) /
#: ``raw <statement>`` (``run_raw``) / ``group-commit <members>`` when set (tests, benchmarks)
trace: Callable[[str], None] | None = _file_tracer(os.environ[TRACE_ENV]) \
    if os.environ.get(TRACE_ENV) else None


@functools.cache
def migration_head() -> str | None:
    """The newest migration, read from the files without alembic; None unless the
    migrations form one plain chain (then the caller asks alembic)."""
    revisions: dict[str, object] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            rev = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(rev, str) or not (down is None or isinstance(down, str)):
            return None  # merge points and odd files: leave them to alembic
        revisions[rev] = down
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def known_revisions() -> set[str]:
    """Every revision id of this version's migration files."""
    found: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for kind, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            if kind == "revision":
                with contextlib.suppress(ValueError, SyntaxError):
                    found.add(str(ast.literal_eval(value)))
    return found


class Catalog:
    """The SQL catalog: an engine plus transaction helpers."""

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0, pool_size: int = 8) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        #: SQLite has one writer at a time: the threads of this process queue for it
        #: and commit in groups (``groupcommit``) instead of polling in SQLite's busy
        #: handler and paying one fsync each. PostgreSQL writers lock rows: no queue.
        self._group: GroupCommitter | None = None
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, busy_timeout_s)
            path = url.split(":///", 1)[1] if ":///" in url else ""
            self._group = GroupCommitter(
                lambda: self.engine.connect().execution_options(lumanox_immediate=True),
                trace=trace, lock=None if path in ("", ":memory:") else
                WriterLock(Path(f"{path}-writer.lock"), busy_timeout_s))
        elif url.startswith("postgresql"):
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True
            )
        else:
            raise ConfigError(
                f"catalog.url: unsupported database {url.split(':', 1)[0]!r}; "
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
            )
        if trace is not None:  # set before the engine is made (a listener costs per statement)
            event.listen(self.engine, "before_cursor_execute", _trace_statement)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (deferred on SQLite)."""
        if trace is not None:
            trace("tx read")
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; committed when the block ends without an exception."""
        if trace is not None:
            trace("tx write")
        if self._group is not None:
            with self._group.write() as conn:
                yield conn
        else:
            yield from self._write()

    def _write(self) -> Iterator[Connection]:
        attempts = 0
        while True:
            try:
                conn_cm = self.engine.connect()
                conn = conn_cm.__enter__()
                break
            except OperationalError:  # pragma: no cover - database unreachable
                attempts += 1
                if attempts >= 3:
                    raise
                time.sleep(0.1 * attempts)
        try:
            conn = conn.execution_options(lumanox_immediate=True)
            callbacks: list = conn.info.setdefault("after_commit", [])
            callbacks.clear()
            with conn.begin():
                yield conn
            for callback in callbacks:
                callback()
        finally:
            conn.info.pop("after_commit", None)
            conn_cm.__exit__(None, None, None)

    @staticmethod
    def after_commit(conn: Connection, callback) -> None:  # type: ignore[no-untyped-def]
        """Run ``callback`` once the write transaction of ``conn`` has committed."""
        conn.info.setdefault("after_commit", []).append(callback)

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema -------------------------------------------------------------------------
    def alembic_config(self):  # -> alembic.config.Config
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def schema_status(self) -> tuple[str | None, str]:
        """(current revision in the database, newest revision the code knows).

        The common case (the database is at the head) costs one SELECT: the head is read
        from the migration files' ``revision``/``down_revision`` lines and alembic (0.2 s of
        imports and script loading) is asked only when the two differ or the files are not
        a single plain chain."""
        current = self._stored_revision()
        if current is not None and current == migration_head():
            return current, current
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return current, head or ""

    def _stored_revision(self) -> str | None:
        """The revision in ``alembic_version``; None if there is none (or no such table)."""
        try:
            with self.engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except (OperationalError, ProgrammingError):
            return None
        return str(rows[0][0]) if len(rows) == 1 else None

    def migrate(self) -> None:
        """Apply every pending migration."""
        from alembic import command

        command.upgrade(self.alembic_config(), "head")

    def ensure_schema(self, *, auto_migrate: bool) -> None:
        """Migrate, or refuse with a clear message when migrations are pending."""
        current, head = self.schema_status()
        if current == head:
            return
        if current is not None and current not in known_revisions():
            raise SchemaOutOfDate(
                f"catalog schema is at revision {current}, newer than this version knows "
                f"(its newest is {head}): a newer version migrated it; install that version "
                "on this node (docs/deployment.md, Rolling upgrade)")
        if not auto_migrate:
            raise SchemaOutOfDate(
                f"catalog schema is at revision {current or 'none'}, this version needs {head}: "
                "run `lumanox-gateway migrate` (or set catalog.auto_migrate = true)"
            )
        self.migrate()


class RawSQL:
    """A hot statement for ``run_raw``: written once with ``:name`` parameters (SQLite's
    style), kept also in psycopg's ``%(name)s`` style; ``for_update`` appends ``FOR
    UPDATE`` on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` has locked everything already)."""

    __slots__ = ("pg", "sqlite")

    def __init__(self, sql: str, *, for_update: bool = False) -> None:
        self.sqlite = " ".join(sql.split())
        self.pg = re.sub(r"(?<!:):(\w+)", r"%(\1)s", self.sqlite) + \
            (" FOR UPDATE" if for_update else "")


def run_raw(conn: Connection, stmt: RawSQL, params: dict[str, Any]) -> Any:
    """Execute ``stmt`` on the driver's own cursor inside ``conn``'s transaction; the
    cursor (DB-API rows: plain tuples; SQLite times as text, see ``sqlite_time``).

    For the dozen statements every request runs: SQLAlchemy's per-statement work (compile
    cache lookup, parameter processing, result wrapping) costs several times the driver
    call on these one-row look-ups."""
    if trace is not None:
        trace("raw " + stmt.sqlite)
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return dbapi.execute(stmt.sqlite, params)  # type: ignore[union-attr]
    cur = dbapi.cursor()  # type: ignore[union-attr]
    cur.execute(stmt.pg, params)
    return cur


def run_raw_many(conn: Connection, stmt: RawSQL, rows: list[dict[str, Any]]) -> None:
    """``run_raw`` for many parameter sets (one statement, e.g. a batch of inserts)."""
    if trace is not None:
        trace("raw " + stmt.sqlite)
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        dbapi.executemany(stmt.sqlite, rows)  # type: ignore[union-attr]
    else:
        with dbapi.cursor() as cur:  # type: ignore[union-attr]
            cur.executemany(stmt.pg, rows)


def sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (wall clock, the zone dropped; the
    catalog passes UTC times)."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def db_time(conn: Connection, value: datetime) -> datetime | str:
    """A datetime parameter for ``run_raw`` on this connection's database."""
    return sqlite_time(value) if conn.dialect.name == "sqlite" else value


def _trace_statement(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
    if trace is not None and not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
        trace("sql " + " ".join(statement.split()))


def _sqlite_engine(url: str, busy_timeout_s: float) -> Engine:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        poolclass=NullPool if path in ("", ":memory:") else None,
        connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
        # every transaction ends in COMMIT or ROLLBACK (Catalog.read/write, and a closed
        # Connection rolls back what it began): no second rollback on each return
        pool_reset_on_return=None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("lumanox_immediate", False)
        # straight to the driver: this runs for every transaction
        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            "BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine

