"""#9.1: recursive COPY / MOVE / DELETE must pass the permission rules inside the folder.

carol has every right except on ``/dept/hr``; dave may not write into ``/archive/hr``.
Every refusal is whole (nothing half-done) and audited.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from gateway import admin
from gateway.errors import NotFound

from .authz_cast import PW, SALARIES, authz_cast
from .conftest import ROOT, SecGateway, started_gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecGateway]:
    with started_gateway(tmp_path_factory.mktemp("subtree"), authz_cast) as g:
        yield g


def dav(gw: SecGateway, method: str, path: str, login: str, *headers: str) -> int:
    args = ["-X", method, "-o/dev/null", "-w", "%{http_code}"]
    for h in headers:
        args += ["-H", h]
    r = gw.curl(*args, path, login=login, password=PW)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)


def exists(gw: SecGateway, path: str) -> bool:
    with gw.core() as core:
        s = core.session(admin.principal_for(core, "acme", "alice"), "cli", "local")
        try:
            s.stat_quiet(path)
        except NotFound:
            return False
        return True


def assert_hr_intact(gw: SecGateway) -> None:
    with gw.core() as core:
        s = core.session(admin.principal_for(core, "acme", "alice"), "cli", "local")
        assert s.read_file("/dept/hr/salaries.txt") == SALARIES
        assert s.read_file("/dept/pub/a.txt") == b"public\n"


def test_webdav_copy_of_a_folder_with_a_forbidden_subfolder_is_refused(gw: SecGateway) -> None:
    status = dav(gw, "COPY", "/dept", "carol@acme", f"Destination: {gw.url}/loot")
    assert status == 403
    assert not exists(gw, "/loot")
    assert dav(gw, "GET", "/loot/hr/salaries.txt", "carol@acme") == 404
    assert gw.wait_audit(action="copy", user="carol", path="/dept", result="denied")


def test_webdav_move_and_delete_of_such_a_folder_are_refused_whole(gw: SecGateway) -> None:
    assert dav(gw, "MOVE", "/dept", "carol@acme", f"Destination: {gw.url}/moved") == 403
    assert dav(gw, "DELETE", "/dept", "carol@acme") == 403
    assert not exists(gw, "/moved")
    assert_hr_intact(gw)
    assert gw.wait_audit(action="move", user="carol", path="/dept", result="denied")
    assert gw.wait_audit(action="delete", user="carol", path="/dept", result="denied")


def test_webdav_copy_into_a_folder_with_a_write_protected_subfolder_is_refused(
        gw: SecGateway) -> None:
    """dave may read /dept but may not write /archive/hr: copying /dept onto /archive
    (Overwrite) would write /archive/hr/salaries.txt."""
    status = dav(gw, "COPY", "/dept", "dave@acme", f"Destination: {gw.url}/archive/x",
                 "Overwrite: T")
    assert status == 201  # /archive/x/hr is not protected
    status = dav(gw, "COPY", "/dept", "dave@acme", f"Destination: {gw.url}/archive",
                 "Overwrite: T")
    assert status == 403
    assert exists(gw, "/archive") and not exists(gw, "/archive/hr")


def test_copy_of_an_allowed_subtree_still_works(gw: SecGateway) -> None:
    assert dav(gw, "COPY", "/dept/pub", "carol@acme", f"Destination: {gw.url}/pubcopy") == 201
    assert exists(gw, "/pubcopy/a.txt")
    assert dav(gw, "MOVE", "/pubcopy", "carol@acme", f"Destination: {gw.url}/pubmoved") == 201
    assert dav(gw, "DELETE", "/pubmoved", "carol@acme") == 204
    assert not exists(gw, "/pubmoved")


def test_sftp_rename_of_such_a_folder_is_refused(gw: SecGateway) -> None:
    client, sftp = gw.paramiko_sftp("carol@acme", PW)
    try:
        with pytest.raises(PermissionError):
            sftp.rename("/dept", "/renamed")
        with pytest.raises(PermissionError):
            sftp.posix_rename("/dept", "/renamed")
    finally:
        client.close()
    assert not exists(gw, "/renamed")
    assert_hr_intact(gw)


def test_cli_recursive_rm_and_mv_of_such_a_folder_are_refused(gw: SecGateway) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env.update(LUMANOX_CONFIG=str(gw.config_path), PYTHONPATH=str(ROOT))
    for argv in (["rm", "carol@acme", "/dept", "--recursive"],
                 ["mv", "carol@acme", "/dept", "/elsewhere"]):
        r = subprocess.run([sys.executable, "-m", "gateway", "files", *argv], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, r.stdout
        assert "permission" in r.stderr.lower()
    assert not exists(gw, "/elsewhere")
    assert_hr_intact(gw)
