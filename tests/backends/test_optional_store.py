"""An optional store whose library is not installed (boto3 for ``s3``: the base install of
scripts/serve.sh has none) leaves its ``[storage.<name>]`` section alone until it is
chosen; choosing it fails in one line naming the extra to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.backends import registry
from gateway.config import load_config
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "s3", "gateway.backends.not_installed:S3BlobStore")


@pytest.mark.usefixtures("s3_not_installed")
def test_the_shipped_config_loads_without_the_optional_store(tmp_path: Path) -> None:
    shipped = (ROOT / "conf" / "gateway.toml").read_text()
    assert "[storage.s3]" in shipped
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(shipped)
    assert load_config(cfg).storage.backend == "local"
    assert not registry.loadable("s3") and registry.loadable("local")


@pytest.mark.usefixtures("s3_not_installed")
def test_choosing_it_names_the_extra(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[storage]\nbackend = "s3"\n[storage.s3]\nbucket = "b"\n')
    with pytest.raises(ConfigError, match=r"pip install 'lumanox-gateway\[s3\]'"):
        load_config(cfg)


def test_a_misspelt_store_section_is_still_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[storage.s4]\nbucket = "b"\n')
    with pytest.raises(ConfigError, match="unknown backend 's4'"):
        load_config(cfg)
