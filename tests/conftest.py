"""Shared fixtures: a fresh gateway core on SQLite and on PostgreSQL.

PostgreSQL tests use the server at 127.0.0.1:5432 (override with LUMANOX_TEST_PG, a
``postgresql+psycopg://`` URL of a database the tests may create databases from). Each
run creates its own database and drops it at the end. In CI (CI=true) a missing
PostgreSQL is a failure; elsewhere those tests skip with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import admin
from gateway.config import Config
from gateway.core import Core
from gateway.keyring import create_master_key_file

PG_ADMIN_URL = os.environ.get("LUMANOX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_available() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    try:
        dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL.split('@')[-1]}: {type(exc).__name__}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {problem}")
        pytest.skip(problem)
    import psycopg

    name = f"lumanox_test_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all(url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    with engine.begin() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        if names:
            conn.execute(text(f"TRUNCATE {', '.join(chr(34) + n + chr(34) for n in names)} "
                              "CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A catalog URL: a new SQLite file, or the run's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    url = request.getfixturevalue("pg_url")
    _truncate_all(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A catalog URL of a database with no schema at all (a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    import psycopg

    base_url = request.getfixturevalue("pg_url")
    name = f"{base_url.rsplit('/', 1)[1]}_e{secrets.token_hex(2)}"
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_config(tmp_path: Path, db_url: str) -> Config:
    cfg = Config(base_dir=tmp_path)
    cfg.gateway.data_dir = str(tmp_path / "data")
    cfg.catalog.url = db_url
    cfg.audit.log = str(tmp_path / "audit.jsonl")
    cfg.audit.batch_max_delay_ms = 2
    create_master_key_file(cfg.master_key_file)
    return cfg


@pytest.fixture
def config_factory():  # type: ignore[no-untyped-def]
    """``config_factory(tmp_path, url)`` -> a test Config (for tests that pick their DB)."""
    return make_config


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    return make_config(tmp_path, db_url)


@pytest.fixture
def core(config: Config) -> Iterator[Core]:
    c = Core.open(config)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def tenant(core: Core) -> admin.Tenant:
    return admin.create_tenant(core, "acme")


@pytest.fixture
def session(core: Core, tenant: admin.Tenant):  # type: ignore[no-untyped-def]
    admin.create_user(core, "acme", "alice", password="correct horse battery")
    return core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")

