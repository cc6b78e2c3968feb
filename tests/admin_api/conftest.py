"""Fixtures: a real ``lumanox-gateway serve`` (WebDAV, SFTP and the admin API, TLS) on
127.0.0.1 ephemeral ports, shared by the admin API tests, and tokens of every kind.

Tenants ``acme`` (users alice, bob) and ``beta`` (user zoe). Tokens (``Api.tokens``):
``all``, ``read``, ``users``, ``tenants``, ``reports`` (every tenant), ``acme-all`` (all
scopes, tenant acme only), plus ``expired`` and ``revoked`` ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from localnet import free_port, wait_port
from sqlalchemy import select, update

from gateway import admin
from gateway.admin_api import tokens
from gateway.catalog.tables import admin_tokens, audit_events
from gateway.config import load_config
from gateway.core import Core
from tests.gateway_toml import write_gateway_toml


def write_config(base: Path, ports: dict[str, int], *, extra: str = "") -> Path:
    return write_gateway_toml(base, ports["webdav"], ports["sftp"],
                              sections={"webdav": "threads = 4"}, extra=f"""
[admin_api]
enabled = true
port = {ports["admin_api"]}
request_timeout_s = 2
{extra}""")


def env_for(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env["LUMANOX_CONFIG"] = str(config)
    return env


@dataclass
class Api:
    config: Path
    port: int
    proc: subprocess.Popen[str]
    tokens: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, token: str | None = "all", *,  # noqa: S107
             json: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, data: bytes | None = None
             ) -> requests.Response:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return requests.request(method, self.url + path, json=json, params=params,
                                headers=h, data=data, verify=str(self.ca), timeout=30)

    @property
    def ca(self) -> Path:
        """The gateway's self-signed certificate: clients verify the server with it."""
        return self.config.parent / "certs" / "gw.crt"

    def core(self) -> Core:
        return Core.open(load_config(self.config), migrate=False, audit_log="off")

    def events(self, **where: str) -> list[dict[str, Any]]:
        """Audit events stored so far (the API's queued ones are flushed within ms)."""
        with self.core() as core, core.catalog.read() as conn:
            q = select(audit_events).order_by(audit_events.c.id)
            for column, value in where.items():
                q = q.where(audit_events.c[column] == value)
            return [dict(r) for r in conn.execute(q).mappings()]

    def events_until(self, enough: Callable[[list[dict[str, Any]]], bool],
                     **where: str) -> list[dict[str, Any]]:
        """``events(**where)`` once ``enough`` holds (queued events are stored in batches),
        or after 10 s whatever they are."""
        deadline = time.monotonic() + 10
        while True:
            found = self.events(**where)
            if enough(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _setup(base: Path) -> tuple[Path, dict[str, str]]:
    ports = {"webdav": free_port(), "sftp": free_port(), "admin_api": free_port()}
    config = write_config(base, ports)
    subprocess.run([sys.executable, "-m", "gateway", "init"], env=env_for(config), check=True,
                   capture_output=True, timeout=120)
    made: dict[str, str] = {}
    with Core.open(load_config(config), audit_log="off") as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice", password="alice-secret-pw-1")
        admin.create_user(core, "acme", "bob", password="bob-secret-pw-2")
        admin.create_tenant(core, "beta")
        admin.create_user(core, "beta", "zoe", password="zoe-secret-pw-3")
        for scope in tokens.SCOPES:
            made[scope] = tokens.create(core, f"t-{scope}", scope)[1]
        made["acme-all"] = tokens.create(core, "acme-ops", "all", tenant="acme")[1]
        made["acme-read"] = tokens.create(core, "acme-viewer", "read", tenant="acme")[1]
        made["expired"] = tokens.create(core, "old", "all",
                                        expires_at=datetime.now(UTC) + timedelta(days=1))[1]
        made["revoked"] = tokens.create(core, "gone", "all")[1]
        tokens.revoke(core, "gone")
        with core.catalog.write() as conn:  # its day has passed
            conn.execute(update(admin_tokens).where(admin_tokens.c.name == "old").values(
                expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    return config, made


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    base = tmp_path_factory.mktemp("adminapi")
    config, made = _setup(base)
    port = load_config(config).admin_api.port
    log = base / "serve.log"  # a file, not a pipe nobody reads (that could block serve)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"],
                                env=env_for(config), stdout=out, stderr=subprocess.STDOUT,
                                text=True)

    def alive() -> None:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()}")

    try:
        for p in (port, load_config(config).sftp.port, load_config(config).webdav.port):
            wait_port(p, 60, alive)
        yield Api(config, port, proc, made, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
