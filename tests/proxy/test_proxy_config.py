"""``[webdav]`` / ``[sftp]`` ``proxy_protocol`` + ``proxy_trusted``: checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import config_from_dict
from gateway.errors import ConfigError


def load(section: str, values: dict[str, object]) -> object:
    return config_from_dict({section: values}, base_dir=Path("."), source="gw.toml")


@pytest.mark.parametrize("section", ["webdav", "sftp"])
def test_on_needs_trusted_load_balancers(section: str) -> None:
    with pytest.raises(ConfigError, match=f"{section}.proxy_protocol = true needs "
                                          f"{section}.proxy_trusted"):
        load(section, {"proxy_protocol": True})
    with pytest.raises(ConfigError, match=rf"{section}.proxy_trusted: not an address or "
                                          r"network: '10.0.0.300/32'"):
        load(section, {"proxy_protocol": True, "proxy_trusted": ["10.0.0.300/32"]})
    cfg = load(section, {"proxy_protocol": True, "proxy_trusted": ["10.0.0.5", "fd00::/8"]})
    assert getattr(cfg, section).proxy_trusted == ["10.0.0.5", "fd00::/8"]


def test_off_by_default() -> None:
    cfg = load("webdav", {})
    assert not cfg.webdav.proxy_protocol and not cfg.sftp.proxy_protocol  # type: ignore[attr-defined]
