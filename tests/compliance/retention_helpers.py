"""Shared by the retention, trash and hold tests: a CLI catalog with one tenant and user,
files written through a real Session, and what the blob store and the catalog hold."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli_runner import CliEnv
from served_gateway import PASSWORD, ServedGateway
from sqlalchemy import select

from gateway import admin
from gateway.catalog.tables import audit_events, blobs
from gateway.config import load_config
from gateway.core import Core

# every blob goes to the store (no inline blobs): the store's files can be counted
STORE_ALL = "[storage]\ninline_max_bytes = 0\n"


def make_env(base: Path, db_url: str | None = None, extra: str = "") -> CliEnv:
    env = CliEnv(base, db_url, extra=STORE_ALL + extra)
    env.run("init")
    env.run("tenant", "create", "acme")
    env.run("user", "create", "alice@acme", "--generate-password")
    return env


@contextmanager
def core_of(env: CliEnv) -> Iterator[Core]:
    with Core.open(load_config(env.config), audit_log="off") as core:
        yield core


def session(core: Core, user: str = "alice"):  # type: ignore[no-untyped-def]
    return core.session(admin.principal_for(core, "acme", user), "test", "127.0.0.1")


def put(env: CliEnv, files: dict[str, bytes]) -> None:
    with core_of(env) as core:
        s = session(core)
        for path, data in files.items():
            s.mkdir(path.rsplit("/", 1)[0] or "/", parents=True, exist_ok=True)
            s.write_file(path, data)


def all_files(env: CliEnv) -> set[str]:
    """Every file path of acme visible through a Session (walks the tree)."""
    with core_of(env) as core:
        s = session(core)
        out, todo = set(), ["/"]
        while todo:
            folder = todo.pop()
            for e in s.list(folder):
                (todo.append(e.path) if e.is_dir else out.add(e.path))
        return out


def store_ids(env: CliEnv) -> set[str]:
    root = env.base / "var" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts}


def catalog_blob_ids(env: CliEnv) -> set[str]:
    with core_of(env) as core, core.catalog.read() as conn:
        return set(conn.execute(select(blobs.c.id)).scalars())


def events(env: CliEnv, action: str) -> list[dict]:
    with core_of(env) as core, core.catalog.read() as conn:
        return [dict(r) for r in conn.execute(select(audit_events).where(
            audit_events.c.action == action).order_by(audit_events.c.id)).mappings()]


def days_from_now(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()




class Served(ServedGateway):
    """``serve`` (WebDAV + SFTP, one worker each) over a CLI catalog; curl and paramiko."""

    def __init__(self, base: Path, extra: str = "") -> None:
        import localnet

        self.dav_port, self.ssh_port = localnet.free_port(), localnet.free_port()
        self.env = CliEnv(base, sftp_extra=f"port = {self.ssh_port}\nworkers = 1\n",
                          extra=STORE_ALL + extra
                          + f"[webdav]\nport = {self.dav_port}\nworkers = 1\n")
        self.env.run("init")
        self.env.run("tenant", "create", "acme")
        self.env.run("user", "create", "alice@acme", "--password-stdin", stdin=PASSWORD + "\n")

    def sftp(self):  # type: ignore[no-untyped-def]
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
        client.connect("127.0.0.1", self.ssh_port, username="alice@acme", password=PASSWORD,
                       allow_agent=False, look_for_keys=False, timeout=20)
        return client, client.open_sftp()

    def usage(self) -> tuple[int, int]:
        u = self.env.json("user", "show", "alice@acme")
        return u["used_bytes"], u["used_files"]


@contextmanager
def served(base: Path, extra: str = "") -> Iterator[Served]:
    s = Served(base, extra)
    try:
        yield s.start()
    finally:
        s.stop()
