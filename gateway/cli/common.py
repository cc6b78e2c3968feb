"""What every CLI command module shares: opening the core, printing, and the parsers of
argument values, each with one meaning everywhere:

* ``split_login``: ``USER@TENANT`` -> canonical (user, tenant) (``gateway.policy.logins``);
* ``csv_list``: a comma list; ``optional_list``: the same, where ``any``/``none``/empty
  clears a restriction and an absent option (None) leaves it unchanged;
* ``parse_when``: an ISO date/time (naive = UTC); ``parse_duration``: ``30m``, ``12h``,
  ``7d``; ``expiry``: an ISO date/time or a duration from now (``90d``);
* ``size_or_none``: ``10G``, ``512M``... or None.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from gateway.config import Config
from gateway.errors import ConfigError, GatewayError
from gateway.policy.logins import split_login
from gateway.textout import dump_json, parse_size, printable_lines

EXIT_ERROR = 1
EXIT_USAGE = 2

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "NoCatalog", "audit_change", "csv_list", "emit",
           "expiry", "open_core", "optional_list", "parse_duration", "parse_when",
           "require_catalog", "size_or_none", "split_login", "user_command"]


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


def open_core(cfg: Config, migrate: bool | None = None, *, create: bool = False):  # type: ignore[no-untyped-def]
    """The core for one command; refuses when there is no catalog unless ``create``."""
    from gateway.core import Core

    if not create:
        require_catalog(cfg)
    return Core.open(cfg, migrate=migrate, audit_log="off" if cfg.audit.log == "stdout"
                     else None)


def emit(args: argparse.Namespace, data: Any, human: str) -> None:
    """JSON for scripts, or the human text with control characters made visible (names,
    comments and reasons may come from clients: no raw terminal escapes)."""
    print(dump_json(data) if args.json else printable_lines(human))


def audit_change(core, action: str, login: str | None = None, *, tenant: str | None = None,  # type: ignore[no-untyped-def]
                 reason: str | None = None) -> None:
    """Audit a change a command makes that its core module does not audit itself (policy,
    credentials). ``reason`` must never carry a secret."""
    from gateway.admin import record_admin_action

    user = None
    if login is not None:
        user, tenant = split_login(login)
    record_admin_action(core, action, tenant=tenant, path=user, reason=reason)


def user_command(sub: argparse._SubParsersAction, name: str, common: argparse.ArgumentParser,
                 text: str) -> argparse.ArgumentParser:
    """A subcommand about one user: its first argument is ``USER@TENANT`` (``split_login``)."""
    parser = sub.add_parser(name, parents=[common], help=text)
    parser.add_argument("login", metavar="USER@TENANT")
    return parser


def csv_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def optional_list(text: str | None) -> list[str] | None:
    """None (option absent: unchanged), [] (``any``, ``none`` or empty: no restriction),
    or the items of the comma list."""
    if text is None:
        return None
    if text.strip().lower() in ("", "none", "any"):
        return []
    return csv_list(text)


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


_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise ConfigError(f"{text!r} is not a duration: write e.g. 30m, 12h, 7d or 0")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def expiry(text: str | None) -> datetime | None:
    """An expiry: an ISO date/time or a duration from now (``30d``)."""
    if not text:
        return None
    if _DURATION.match(text.strip().lower()):
        return datetime.now(UTC) + parse_duration(text)
    try:
        return parse_when(text)
    except GatewayError:
        raise ConfigError(f"{text!r}: write a date (2027-01-31) or a duration (90d)") from None


def shown_time(when: datetime | None, missing: str = "-") -> str:
    """A timestamp for a table cell (seconds), or ``missing``."""
    return when.isoformat(timespec="seconds") if when else missing
