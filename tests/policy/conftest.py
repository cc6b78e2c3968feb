"""Fixtures of the identity and policy tests: a gate, a tenant with a user, and a real
OpenLDAP slapd (tests needing it skip with the reason when slapd is missing, but FAIL when
CI=true). Helpers live in ``policy_helpers``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from policy_helpers import PW
from slapd_fixture import Slapd, running_slapd

from gateway import admin
from gateway.core import Core
from gateway.policy.gate import Gate


@pytest.fixture
def gate(core: Core) -> Gate:
    return Gate(core)


@pytest.fixture
def acme(core: Core) -> admin.Tenant:
    t = admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password=PW)
    return t


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(Path(tmp_path_factory.mktemp("slapd"))) as server:
        yield server
