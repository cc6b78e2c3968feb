"""Shared by the named-store tests: a CLI config with three local stores in different
regions (default: eu-central, ``ch1``: ch, ``us1``: us-east), a tenant, a user, and
``serve`` with curl for WebDAV."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli_runner import CliEnv, clean_env, killed_after
from served_gateway import PASSWORD, ServedGateway
from sqlalchemy import select

from gateway import admin
from gateway.catalog.tables import audit_events, blobs
from gateway.config import load_config
from gateway.core import Core
from gateway.storage_migrate.migrate import PAUSE_ENV

#: every blob in a store (none inline), three stores in three regions
STORES = ('[storage]\ninline_max_bytes = 0\nregion = "eu-central"\n'
          '[stores.ch1]\nbackend = "local"\nregion = "ch"\npath = "store-ch1"\n'
          '[stores.us1]\nbackend = "local"\nregion = "us-east"\npath = "store-us1"\n')


def make_env(base: Path, db_url: str | None = None, *, extra: str = "",
             sftp_extra: str = "", stores: str = STORES) -> CliEnv:
    env = CliEnv(base, db_url, extra=stores + extra, sftp_extra=sftp_extra)
    env.run("init")
    env.run("tenant", "create", "acme")
    env.run("user", "create", "alice@acme", "--password-stdin", stdin=PASSWORD + "\n")
    return env


@contextmanager
def core_of(env: CliEnv) -> Iterator[Core]:
    with Core.open(load_config(env.config), audit_log="off") as core:
        yield core


def session(core: Core):  # type: ignore[no-untyped-def]
    return core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")


def store_dir(env: CliEnv, store: str) -> Path:
    return env.base / "var" / "blobs" if store == "default" else env.base / f"store-{store}"


def stored_ids(env: CliEnv, store: str) -> set[str]:
    root = store_dir(env, store)
    return {p.name for p in root.rglob("*")
            if p.is_file() and ".tmp" not in p.parts and len(p.name) == 32}


def blob_stores(env: CliEnv) -> dict[str, str]:
    """blob id -> the store its catalog row names."""
    with core_of(env) as core, core.catalog.read() as conn:
        return dict(conn.execute(select(blobs.c.id, blobs.c.store)).all())


def events(env: CliEnv, action: str) -> list[dict]:
    with core_of(env) as core, core.catalog.read() as conn:
        return [dict(r) for r in conn.execute(select(audit_events).where(
            audit_events.c.action == action).order_by(audit_events.c.id)).mappings()]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Served(ServedGateway):
    """``serve`` (one WebDAV worker) over the env's catalog; curl as alice."""

    def __init__(self, base: Path, db_url: str | None, stores: str = STORES) -> None:
        import localnet

        self.dav_port, self.ssh_port = localnet.free_port(), localnet.free_port()
        self.env = make_env(base, db_url, stores=stores,
                            sftp_extra=f"port = {self.ssh_port}\nworkers = 1\n",
                            extra=f"[webdav]\nport = {self.dav_port}\nworkers = 1\n")


@contextmanager
def served(base: Path, db_url: str | None = None, stores: str = STORES) -> Iterator[Served]:
    s = Served(base, db_url, stores)
    try:
        yield s.start()
    finally:
        s.stop()


def killed_migrate(env: CliEnv, to: str, pause: str, batch: int) -> str:
    """``storage migrate --tenant acme --to TO`` paused at ``pause`` (see ``PAUSE_ENV``),
    then killed with SIGKILL; returns its pause line."""
    return killed_after(["storage", "migrate", "--tenant", "acme", "--to", to,
                         "--batch-files", str(batch)], cwd=env.base,
                        env=clean_env(LUMANOX_CONFIG=str(env.config), **{PAUSE_ENV: pause}),
                        first_line="migrate: paused ")
