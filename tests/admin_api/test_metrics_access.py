"""Who may scrape ``GET /metrics``: a token for every tenant, or, only when
``metrics.loopback_without_token`` is on, a client on this machine without one. The app is
driven in process (falcon's test client sets the client address); no serve runs, so an
admitted scrape answers 503 ``metrics_unavailable`` and a refused one 401."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from falcon import testing

from gateway.admin_api.app import build_app
from gateway.config import Config
from gateway.core import Core


@pytest.fixture
def core(tmp_path: Path, config_factory: Callable) -> Iterator[Core]:
    config: Config = config_factory(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    with Core.open(config) as core:
        yield core


def _scrape(core: Core, addr: str, **headers: str) -> int:
    client = testing.TestClient(build_app(core))
    return client.simulate_get("/metrics", remote_addr=addr, headers=headers).status_code


def test_a_token_is_needed_by_default(core: Core) -> None:
    assert core.config.metrics.loopback_without_token is False
    assert _scrape(core, "127.0.0.1") == 401
    assert _scrape(core, "10.1.2.3") == 401


def test_loopback_scrapers_need_none_when_configured(core: Core) -> None:
    core.config.metrics.loopback_without_token = True
    assert _scrape(core, "127.0.0.1") == 503  # admitted: nothing counts in this test
    assert _scrape(core, "::1") == 503
    assert _scrape(core, "10.1.2.3") == 401  # off this machine: still a token
    assert _scrape(core, "127.0.0.1", Authorization="Bearer lmx_bad") == 401  # sent: checked
