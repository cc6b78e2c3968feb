"""Where the CLI finds its configuration, and that only ``init`` creates a catalog.

Without ``--config`` the CLI looks at $LUMANOX_CONFIG, then ./conf/gateway.toml, then
/etc/lumanox/gateway.toml. Finding none, every command refuses with one line naming the
places it looked, and leaves the working directory untouched (no stray ``./var``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import CliEnv, clean_env, run_cli

SYSTEM_CONFIG = Path("/etc/lumanox/gateway.toml")


@pytest.mark.parametrize("args", [("status",), ("tenant", "list"), ("audit", "tail"),
                                  ("gc", "--dry-run"), ("init",), ("migrate",)])
def test_without_a_config_every_command_refuses_and_creates_nothing(
        tmp_path: Path, args: tuple[str, ...]) -> None:
    if SYSTEM_CONFIG.exists():
        pytest.fail(f"{SYSTEM_CONFIG} exists on this machine: the test needs it absent")
    p = run_cli(*args, cwd=tmp_path)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for place in ("LUMANOX_CONFIG", "conf/gateway.toml", str(SYSTEM_CONFIG), "--config"):
        assert place in lines[0]
    assert list(tmp_path.iterdir()) == [], "a command without a config left files behind"


def test_search_order_is_env_then_working_directory_then_etc() -> None:
    from gateway.config import SEARCH_PATHS

    assert [str(p) for p in SEARCH_PATHS] == ["conf/gateway.toml", str(SYSTEM_CONFIG)]


def test_conf_gateway_toml_in_the_working_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gateway.toml").write_text(
        '[gateway]\ndata_dir = "../state"\n[audit]\nlog = "off"\n'
        '[tls]\ncert_file = "../certs/gw.crt"\nkey_file = "../certs/gw.key"\n'
        '[sftp]\nhost_keys = ["../certs/ssh_host_ed25519_key"]\n')
    assert run_cli("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "state" / "catalog.db").exists()
    p = run_cli("tenant", "list", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "var").exists()


def test_env_config_wins_over_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gateway.toml").write_text("[nonsense]\n")
    (tmp_path / "env").mkdir()
    gw = CliEnv(tmp_path / "env")
    p = run_cli("init", cwd=tmp_path, env=clean_env(LUMANOX_CONFIG=str(gw.config)))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "env" / "var" / "catalog.db").exists()


def test_a_missing_named_config_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    p = run_cli("status", cwd=tmp_path, env=clean_env(LUMANOX_CONFIG=str(missing)))
    assert p.returncode != 0 and str(missing) in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("status",), ("tenant", "list"), ("migrate",),
                                  ("gc",), ("audit", "verify"), ("serve",)])
def test_only_init_creates_a_catalog(tmp_path: Path, empty_db_url: str,
                                     args: tuple[str, ...]) -> None:
    gw = CliEnv(tmp_path, empty_db_url)
    p = gw.run(*args, ok=False)
    assert p.returncode != 0
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "no catalog" in p.stderr and "lumanox-gateway init" in p.stderr
    assert not (tmp_path / "empty.db").exists() and not (tmp_path / "var").exists()
    if not empty_db_url.startswith("sqlite"):
        from gateway.catalog import Catalog

        catalog = Catalog(empty_db_url)
        try:
            assert catalog.schema_status()[0] is None, "the refusal migrated the database"
        finally:
            catalog.dispose()
    gw.run("init")
    if args != ("serve",):  # serve would run until stopped (tests/test_serve.py covers it)
        gw.run(*args)


def test_help_needs_no_config(tmp_path: Path) -> None:
    p = run_cli("--help", cwd=tmp_path)
    assert p.returncode == 0 and "tenant" in p.stdout
