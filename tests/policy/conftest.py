"""Fixtures of the identity and policy tests: a gate, users, keys, TOTP codes, and a real
OpenLDAP slapd (tests needing it skip with the reason when slapd is missing, but FAIL when
CI=true)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from slapd_fixture import Slapd, slapd_problem

from gateway import admin
from gateway.core import Core
from gateway.policy import totp
from gateway.policy.gate import Gate

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PW = "correct horse battery"


@pytest.fixture
def gate(core: Core) -> Gate:
    return Gate(core)


def new_key() -> tuple[ed25519.Ed25519PrivateKey, str]:
    """A fresh ed25519 key and its OpenSSH public line."""
    k = ed25519.Ed25519PrivateKey.generate()
    line = k.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                       serialization.PublicFormat.OpenSSH).decode()
    return k, line + " test@key"


def code(secret: str, offset: int = 0) -> str:
    """The TOTP code ``offset`` steps from now."""
    return pyotp.TOTP(secret).at(time.time() + offset * totp.STEP_S)


@dataclass
class Enrolled:
    secret: str
    recovery: list[str]


def enroll(core: Core, tenant: str, user: str) -> Enrolled:
    """Enrol and confirm with the code of the PREVIOUS step, so the current and next step
    codes stay usable for the test."""
    e = totp.enroll(core, tenant, user)
    rec = totp.confirm(core, tenant, user, code(e.secret, -1))
    return Enrolled(e.secret, rec)


@pytest.fixture
def acme(core: Core) -> admin.Tenant:
    t = admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password=PW)
    return t


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    problem = slapd_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI requires slapd: {problem}")
        pytest.skip(problem)
    server = Slapd(Path(tmp_path_factory.mktemp("slapd")))
    server.setup()
    server.start()
    try:
        yield server
    finally:
        server.stop()
