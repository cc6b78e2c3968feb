"""Fixtures: two real gateway nodes over one PostgreSQL database and one blob store.

``cluster`` (one per test module: starting nodes is the slow part) runs ``serve`` twice,
nodes ``nodea`` and ``nodeb``, each with its own data dir, over a database created for
the module and one blob folder; ``s3_cluster`` the same over one bucket of a local S3
server (moto's) instead of the folder. Tenant ``acme`` (WebDAV + SFTP) has users
``alice`` (password ``PW``), ``sam`` (at most one session at a time) and ``uma`` (64 MiB
quota).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cluster.nodes import Node, make_cluster
from tests.conftest import IN_CI, PG_ADMIN_URL, _pg_available

if TYPE_CHECKING:
    from tests.s3.moto_server import MotoS3

PW = "Correct-Horse-7-battery"


@dataclass
class Cluster:
    a: Node
    b: Node
    db_url: str
    #: the shared store when it is S3: (server, bucket, key prefix); None: a folder
    s3: tuple[MotoS3, str, str] | None = None

    @property
    def nodes(self) -> list[Node]:
        return [self.a, self.b]


def new_database() -> tuple[str, str]:
    """(URL of a new empty PostgreSQL database, its name)."""
    problem = _pg_available()
    if problem:
        if IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {problem}")
        pytest.skip(problem)
    import psycopg

    name = f"lumanox_cluster_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", name


def drop_database(name: str) -> None:
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(node: Node) -> None:
    """Tenant ``acme`` with ``alice`` and ``sam`` (one session at most)."""
    from gateway import admin
    from gateway.config import load_config
    from gateway.core import Core
    from gateway.policy.manage import set_user_policy

    with Core.open(load_config(node.config)) as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice", password=PW)
        admin.create_user(core, "acme", "sam", password=PW)
        set_user_policy(core, "acme", "sam", max_sessions=1)
        admin.create_user(core, "acme", "uma", password=PW, quota_bytes=64 * 1024 * 1024)


@contextmanager
def running_cluster(root: Path, sections: Mapping[str, str] | None = None, *,
                    storage: str | None = None, s3: tuple[MotoS3, str, str] | None = None,
                    ) -> Iterator[Cluster]:
    """Two populated, started nodes over a new database (dropped at the end);
    ``sections`` and ``storage`` as in ``make_cluster``; ``s3`` describes that store."""
    url, name = new_database()
    nodes = make_cluster(root, url, sections=sections, storage=storage)
    try:
        populate(nodes[0])
        for node in nodes:
            node.start()
        yield Cluster(nodes[0], nodes[1], url, s3)
    finally:
        for node in nodes:
            node.stop()
        drop_database(name)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c


@pytest.fixture(scope="module")
def s3_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from tests.s3.moto_server import shared, write_credentials

    root = tmp_path_factory.mktemp("s3cluster")
    server, prefix = shared(), "blobs/"
    bucket = server.new_bucket()
    creds = write_credentials(root / "s3-credentials")
    storage = (f'[storage]\nbackend = "s3"\n[storage.s3]\nendpoint_url = "{server.url}"\n'
               f'bucket = "{bucket}"\nprefix = "{prefix}"\nregion = "us-east-1"\n'
               f'addressing_style = "path"\ncredentials_file = "{creds}"\n')
    with running_cluster(root, storage=storage, s3=(server, bucket, prefix)) as c:
        yield c


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    return tmp_path
