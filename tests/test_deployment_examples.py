"""The shipped systemd unit (conf/examples/lumanox-gateway.service) is valid for systemd
(``systemd-analyze verify``, no warning) and agrees with how ``serve`` behaves; the
notifications themselves are tested in tests/test_serve_startup.py."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "conf/examples/lumanox-gateway.service"
INSTALLED = "/opt/lumanox-gateway/.venv/bin/lumanox-gateway"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        if IN_CI:
            pytest.fail("CI requires systemd-analyze (Debian package systemd)")
        pytest.skip("systemd-analyze not installed")
    here = Path(sys.executable).with_name("lumanox-gateway")
    assert here.exists(), "the test environment's lumanox-gateway entry point"
    text = UNIT.read_text()
    assert INSTALLED in text
    local = tmp_path / UNIT.name
    local.write_text(text.replace(INSTALLED, str(here)))
    p = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "" and p.stderr.strip() == "", \
        (p.returncode, p.stdout, p.stderr)
    # the check itself finds a mistake (a misspelt key is only a warning to systemd)
    local.write_text(text.replace(INSTALLED, str(here)).replace("Type=notify", "Typo=notify"))
    p = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                       text=True, timeout=60)
    assert "Unknown key" in p.stderr


def test_the_unit_matches_what_serve_does() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"  # serve sends READY=1 / RELOADING=1 / STOPPING=1
    assert service["ExecStart"] == f"{INSTALLED} serve"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # SIGHUP: reload in place
    assert service["Environment"].startswith("LUMANOX_CONFIG=")
    assert int(service["TimeoutStopSec"]) >= 60  # front-ends 15 s, then the jobs' last round
    assert service["UMask"] == "0077"  # keys, catalog and blobs readable by the gateway only
    assert service["ReadWritePaths"] == service["WorkingDirectory"]
