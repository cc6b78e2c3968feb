"""Configuration: validated, with errors naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "conf" / "gateway.toml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gateway.toml"
    p.write_text(text)
    return p


def test_example_config_is_valid() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.webdav.port == 8443 and cfg.catalog_url.startswith("sqlite:///")


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[gateway]\ndata_dir = "state"\n'))
    assert cfg.data_dir == tmp_path / "state"
    assert cfg.master_key_file == tmp_path / "state" / "master.key"


@pytest.mark.parametrize(("text", "message"), [
    ("[webdav]\nprot = 1\n", "webdav.prot: unknown key"),
    ("[webdav]\nport = 'x'\n", "webdav.port: expected an integer"),
    ("[webdav]\nport = 70000\n", "webdav.port: expected 1 to 65535"),
    ("[nope]\n", "unknown section [nope]"),
    ("[catalog]\nauto_migrate = 'yes'\n", "catalog.auto_migrate: expected true or false"),
    ("[storage]\nbackend = 'ftp'\n", "storage.backend: unknown backend"),
    ("[storage]\ninline_max_bytes = 2000000\n", "storage.inline_max_bytes: must be between"),
    ("[storage]\ninline_max_bytes = -1\n", "storage.inline_max_bytes: must be between"),
    ("[gateway]\nnode_heartbeat_s = 15\nnode_stale_after_s = 20\n",
     "gateway.node_stale_after_s: expected 0 (never) or at least twice"),
    ("[gateway]\nnode_heartbeat_s = -1\n", "gateway.node_heartbeat_s: expected 0"),
    ("this is not toml", "not valid TOML"),
])
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMANOX_CATALOG_URL", "postgresql+psycopg://gw@db/gw")
    monkeypatch.setenv("LUMANOX_MASTER_KEY_FILE", "/run/secrets/master.key")
    cfg = load_config(write(tmp_path, ""))
    assert cfg.catalog_url == "postgresql+psycopg://gw@db/gw"
    assert str(cfg.master_key_file) == "/run/secrets/master.key"
