"""Issue #9.20: a wrong master key must stop the gateway (and the CLI) at startup, not
let it list files and then fail on every read."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.core import Core
from gateway.errors import ConfigError

from .identity_support import PW, ROOT, harness

SecGateway = harness.SecGateway
prepare_gateway = harness.prepare_gateway
standard_cast = harness.standard_cast


def _swap_master_key(gw: SecGateway) -> None:
    """Replace the master key file with another valid (32 random bytes, 0600) key."""
    path = load_config(gw.config_path).master_key_file
    path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
    finally:
        os.close(fd)


def _cli(gw: SecGateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env.update(LUMANOX_CONFIG=str(gw.config_path), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, text=True,
                          capture_output=True, timeout=120)


def test_wrong_master_key_refuses_to_start(tmp_path: Path) -> None:
    gw = prepare_gateway(tmp_path / "gw", standard_cast)
    gw.start()
    try:
        (tmp_path / "report.txt").write_text("quarterly\n")
        put = gw.curl("-X", "PUT", "--data-binary", f"@{tmp_path / 'report.txt'}",
                      "/report.txt", login="alice@acme")
        assert put.returncode == 0, put.stderr
    finally:
        gw.stop()
    _swap_master_key(gw)
    with pytest.raises(RuntimeError) as exc:  # the server exits instead of serving
        gw.start(timeout=60)
    gw.stop()
    text = str(exc.value)
    assert "master key" in text and "keys.master_key_file" in text
    assert "Traceback" not in text
    # a CLI command that needs keys refuses the same way, one line, non-zero exit
    ls = _cli(gw, "files", "ls", "alice@acme", "/")
    assert ls.returncode != 0
    err = ls.stderr.strip()
    assert len(err.splitlines()) == 1 and "master key" in err, err
    assert "report.txt" not in ls.stdout


def test_catalog_remembers_master_key_from_init(tmp_path: Path) -> None:
    """Even a catalog without any tenant key yet remembers which master key made it."""
    gw = prepare_gateway(tmp_path / "gw", setup=None)
    _swap_master_key(gw)
    with pytest.raises(ConfigError) as exc:
        Core.open(load_config(gw.config_path))
    assert "master key" in str(exc.value) and "\n" not in str(exc.value)


def test_right_master_key_still_starts(tmp_path: Path) -> None:
    gw = prepare_gateway(tmp_path / "gw", standard_cast)
    gw.start()
    try:
        assert gw.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PROPFIND", "-H",
                       "Depth: 0", "/", login="alice@acme", password=PW).stdout == "207"
    finally:
        gw.stop()
