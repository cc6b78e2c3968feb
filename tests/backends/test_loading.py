"""Choosing the blob store: ``backends.load(config)`` by name, its own config section,
one-line errors, backward compatibility, and a running gateway that uses it."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import pytest

from gateway.backends import LocalBlobStore, load, registry
from gateway.config import config_from_dict, load_config
from gateway.errors import ConfigError
from tests.cli_runner import clean_env, run_cli
from tests.security.conftest import SecGateway, started_gateway


def cfg_of(tmp_path: Path, storage: dict):  # type: ignore[no-untyped-def]
    return config_from_dict({"gateway": {"data_dir": str(tmp_path / "data")},
                             "storage": storage}, base_dir=tmp_path, source="t.toml")


def test_load_by_name_with_its_own_section(tmp_path: Path) -> None:
    store = load(cfg_of(tmp_path, {"backend": "local", "local": {"path": "mine"}}))
    assert store.name == "local"
    assert store.describe() == {"backend": "local", "path": str(tmp_path / "mine")}


def test_legacy_storage_path_still_selects_the_folder(tmp_path: Path) -> None:
    store = load(cfg_of(tmp_path, {"backend": "local", "path": "old"}))
    assert store.describe()["path"] == str(tmp_path / "old")
    default = load(cfg_of(tmp_path, {}))
    assert default.describe() == {"backend": "local", "path": str(tmp_path / "data" / "blobs")}


def test_both_path_keys_is_a_one_line_error_naming_the_new_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg_of(tmp_path, {"path": "a", "local": {"path": "b"}})
    msg = str(err.value)
    assert "\n" not in msg and "storage.path" in msg and "[storage.local] path" in msg


def test_unknown_backend_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg_of(tmp_path, {"backend": "ftp"})
    msg = str(err.value)
    assert "\n" not in msg
    assert re.search(r"storage\.backend: unknown backend 'ftp'; known: local\b", msg)


def test_section_of_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[storage\.s4\]: unknown backend 's4'; known: local"):
        cfg_of(tmp_path, {"s4": {"bucket": "x"}})


def test_unknown_backend_option_is_refused_with_the_known_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage\.local\.pth: unknown key; known keys: path"):
        cfg_of(tmp_path, {"local": {"pth": "x"}})
    with pytest.raises(ConfigError, match=r"storage\.local\.path: expected a string"):
        cfg_of(tmp_path, {"local": {"path": 3}})


def test_registry_names_and_loads_lazily() -> None:
    assert "local" in registry.known()
    assert registry.store_class("local") is LocalBlobStore
    with pytest.raises(ConfigError, match="known: local"):
        registry.store_class("nope")


def test_housekeeping_asks_capabilities_not_classes() -> None:
    root = Path(__file__).resolve().parents[2]
    for module in ("gateway/maintenance.py", "gateway/webdav/app.py", "gateway/core.py"):
        text = (root / module).read_text()
        assert "LocalBlobStore" not in text and "blob_dir" not in text, module


def test_cli_unknown_backend_fails_in_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text(f'[gateway]\ndata_dir = "{tmp_path / "d"}"\n[storage]\nbackend = "s3x"\n')
    r = run_cli("status", "--config", str(conf), env=clean_env())
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown backend 's3x'; known: local" in lines[0], r.stderr


def _dav_quota_available(gw: SecGateway) -> int:
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
            "<D:quota-available-bytes/></D:prop></D:propfind>")
    r = gw.curl("-X", "PROPFIND", "-H", "Depth: 0", "-H", "Content-Type: application/xml",
                "--data", body, "/", login="alice@acme")
    m = re.search(r"quota-available-bytes>(\d+)<", r.stdout)
    assert m, r.stdout + r.stderr
    return int(m.group(1))


def test_running_gateway_stores_blobs_where_the_backend_section_says(tmp_path: Path) -> None:
    blob_root = tmp_path / "elsewhere"
    extra = f'[storage]\nbackend = "local"\n[storage.local]\npath = "{blob_root}"\n'
    with started_gateway(tmp_path / "gw", extra=extra) as gw:
        _check_running_gateway(gw, blob_root, tmp_path)


def _check_running_gateway(gw: SecGateway, blob_root: Path, tmp_path: Path) -> None:
    payload = tmp_path / "big.txt"
    payload.write_text(secrets.token_hex(150_000))  # above inline_max_bytes: a real blob
    r = gw.curl("-X", "PUT", "--data-binary", f"@{payload}", "-w", "%{http_code}", "/big.txt",
                login="alice@acme")
    assert r.stdout.endswith("201"), r.stdout + r.stderr
    stored = [p for p in blob_root.rglob("*") if p.is_file() and ".tmp" not in p.parts]
    assert len(stored) == 1 and stored[0].stat().st_size > 300_000
    default_dir = gw.data_dir / "blobs"
    assert not default_dir.exists() or not any(p.is_file() for p in default_dir.rglob("*"))
    assert gw.curl("/big.txt", login="alice@acme").stdout == payload.read_text()

    # no quota: RFC 4331 free space comes from the store's capability (its own folder)
    assert abs(_dav_quota_available(gw) - shutil.disk_usage(blob_root).free) < 256 * 1024**2

    # gc sweeps that store's abandoned temp files through the capability
    leftover = blob_root / ".tmp" / "crashed-writer"
    leftover.write_bytes(b"x" * 10)
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    r = run_cli("gc", "--config", str(gw.config_path), "--json", env=clean_env())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["temp_files_removed"] == 1
    assert not leftover.exists()
    st = run_cli("status", "--config", str(gw.config_path), "--json", env=clean_env())
    assert json.loads(st.stdout)["blob_store"] == {"backend": "local", "path": str(blob_root)}


def test_load_config_reads_the_backend_section_from_a_file(tmp_path: Path) -> None:
    conf = tmp_path / "g.toml"
    conf.write_text('[storage.local]\npath = "rel"\n')
    cfg = load_config(conf)
    assert load(cfg).describe()["path"] == str(tmp_path / "rel")


def test_a_store_whose_library_is_missing_fails_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "s9", "gateway.backends.not_installed:Store")
    with pytest.raises(ConfigError) as err:
        cfg_of(tmp_path, {"backend": "s9"})
    msg = str(err.value)
    assert "\n" not in msg and "backend 's9' cannot be loaded" in msg and "[s9]" in msg
