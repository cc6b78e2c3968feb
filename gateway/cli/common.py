"""What every CLI command module shares: opening the core, printing, small parsers."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from gateway.config import Config
from gateway.errors import GatewayError
from gateway.textout import dump_json, parse_size, printable_lines

EXIT_ERROR = 1
EXIT_USAGE = 2


class NoCatalog(GatewayError):
    """The configured catalog does not exist yet (only ``init`` creates one)."""


def require_catalog(cfg: Config) -> None:
    """Refuse unless the configured catalog exists and has a schema.

    A missing SQLite file is checked before any connection (connecting would create it);
    a database without our schema (an empty PostgreSQL database, an empty file) is
    refused as well: only ``init`` creates a catalog.
    """
    url = cfg.catalog_url
    shown = make_url(url).render_as_string(hide_password=True)
    problem = NoCatalog(f"no catalog at {shown} (configuration {cfg.source}): run "
                        "`lumanox-gateway init` first, or fix catalog.url / gateway.data_dir")
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not Path(database).is_file():
            raise problem
    from sqlalchemy import inspect, text

    from gateway.catalog import Catalog

    catalog = Catalog(url)
    try:
        with catalog.engine.connect() as conn:
            stamped = inspect(conn).has_table("alembic_version") and conn.execute(
                text("SELECT count(*) FROM alembic_version")).scalar()
    finally:
        catalog.dispose()
    if not stamped:
        raise problem


def _open_core(cfg: Config, migrate: bool | None = None, *, create: bool = False):  # type: ignore[no-untyped-def]
    """The core for one command; refuses when there is no catalog unless ``create``."""
    from gateway.core import Core

    if not create:
        require_catalog(cfg)
    return Core.open(cfg, migrate=migrate, audit_log="off" if cfg.audit.log == "stdout"
                     else None)


open_core = _open_core


def _emit(args: argparse.Namespace, data: Any, human: str) -> None:
    """JSON for scripts, or the human text with control characters made visible (names,
    comments and reasons may come from clients: no raw terminal escapes)."""
    print(dump_json(data) if args.json else printable_lines(human))


emit = _emit


def csv_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def size_or_none(text: str | None) -> int | None:
    return None if text is None else parse_size(text)


def parse_when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise GatewayError(f"{text!r} is not a date: write e.g. 2026-11-28 or "
                           "2026-11-28T13:00") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
