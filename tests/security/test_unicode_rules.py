"""#9.4: other Unicode spellings of a folder must not side-step a rule on it.

The folder is ``/ΐ`` (U+0390). ``erin`` is denied it by a rule written in NFC; ``gus`` by
the same rule written decomposed (NFD). Requests spell the folder as U+03AA U+0301
(capital, decomposed) or U+03B9 U+0308 U+0301 (small, fully decomposed): on a
case-insensitive tenant these all name the same folder (``names.name_key``).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from gateway import admin
from gateway.core import Core

from .authz_cast import ALL, PW
from .conftest import SecGateway, started_gateway

FOLDER = "\u0390"
SPELLINGS = ("\u0390", "\u03aa\u0301", "\u03b9\u0308\u0301", "\u03ca\u0301")
SECRET = b"behind a unicode rule\n"


def cast(core: Core) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password=PW)
    for user, prefix in (("erin", "/" + FOLDER),
                         ("gus", "/" + unicodedata.normalize("NFD", FOLDER))):
        admin.create_user(core, "acme", user, password=PW, permissions=json.dumps(
            [{"prefix": "/", "perms": ALL}, {"prefix": prefix, "perms": []}]))
    s = core.session(admin.principal_for(core, "acme", "alice"), "cli", "local")
    s.mkdir("/" + FOLDER)
    s.write_file(f"/{FOLDER}/x.txt", SECRET)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecGateway]:
    with started_gateway(tmp_path_factory.mktemp("unicode"), cast) as g:
        yield g


@pytest.mark.parametrize("user", ["erin", "gus"])
@pytest.mark.parametrize("spelling", SPELLINGS, ids=["nfc", "nfd-capital", "nfd", "mixed"])
def test_webdav_get_in_any_spelling_is_refused(gw: SecGateway, user: str,
                                               spelling: str) -> None:
    r = gw.curl("-o", "-", "-w", "\n%{http_code}", f"/{quote(spelling)}/x.txt",
                login=f"{user}@acme", password=PW)
    body, _, status = r.stdout.rpartition("\n")
    assert SECRET.decode() not in body
    assert status == "404"


def test_alice_reaches_the_file_in_every_spelling(gw: SecGateway) -> None:
    for spelling in SPELLINGS:
        r = gw.curl("-o", "-", f"/{quote(spelling)}/x.txt", login="alice@acme", password=PW)
        assert r.stdout.encode() == SECRET


@pytest.mark.parametrize("user", ["erin", "gus"])
def test_sftp_get_in_another_spelling_is_refused(gw: SecGateway, user: str) -> None:
    client, sftp = gw.paramiko_sftp(f"{user}@acme", PW)
    try:
        for spelling in SPELLINGS:
            with pytest.raises(FileNotFoundError), sftp.open(f"/{spelling}/x.txt") as f:
                f.read()
    finally:
        client.close()


def test_rule_prefixes_are_stored_normalised(gw: SecGateway) -> None:
    with gw.core() as core:
        stored = json.loads(admin.get_user(core, "acme", "gus").permissions)
    assert {"prefix": "/" + FOLDER, "perms": []} in stored
