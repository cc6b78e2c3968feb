"""Issue #9.2: one account per person, whatever the spelling of the login.

LDAP matches ``BOB``, ``Bob``, `` bob`` and ``bob `` to the entry of bob; the gateway must
not turn them into new accounts that skip bob's disable (and with it his TOTP, networks,
protocol and session limits and lockout). Logins are canonical (case-folded, NFKC;
whitespace and control characters refused), accounts are bound to the entry's stable id,
and local accounts use the same canonical form. Real slapd, real gateway, curl and
paramiko."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from sqlalchemy import select, update

from gateway import admin
from gateway.catalog.tables import users
from gateway.core import Core
from gateway.errors import AlreadyExists
from gateway.policy import manage

from .identity_support import PW, paramiko_transport

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
from slapd_fixture import PASSWORDS, SVC_DN, SVC_PW, Slapd, running_slapd

BOB_PW = PASSWORDS[("acme", "bob")]
SPELLINGS = ["BOB@acme", "Bob@acme", "bob@ACME", " bob@acme", "bob @acme", "bob\t@acme",
             "\uff42\uff4f\uff42@acme"]  # the last: full-width letters


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(Path(tmp_path_factory.mktemp("slapd-identity"))) as server:
        yield server


def _ldap_tenant(core: Core, slapd: Slapd) -> None:
    admin.create_tenant(core, "acme")
    manage.set_ldap(core, "acme", bind_password=SVC_PW, urls=[slapd.url],
                    base_dn="ou=acme,dc=example,dc=org", bind_dn=SVC_DN,
                    ca_file=slapd.ca_file, timeout_s=5.0,
                    group_map={"acme-users": [{"prefix": "/", "perms": ["list", "read"]}],
                               "acme-admins": [{"prefix": "/", "perms": ["list", "read"]}]})
    manage.set_tenant_policy(core, "acme", identity="ldap")


def _dav(gw, login: str, password: str) -> str:  # type: ignore[no-untyped-def]
    r = gw.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "PROPFIND", "-H", "Depth: 0",
                "/", login=login, password=password)
    return r.stdout


def _ssh_password_ok(gw, login: str, password: str) -> bool:  # type: ignore[no-untyped-def]
    t = paramiko_transport(gw.sftp_port)
    try:
        t.auth_password(login, password)
        return t.is_authenticated()
    except paramiko.AuthenticationException:
        return False
    finally:
        t.close()


def _accounts(gw) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with gw.core() as core, core.catalog.read() as conn:
        return sorted((r.name, r.directory_id) for r in conn.execute(
            select(users.c.name, users.c.directory_id)))


def test_disabled_ldap_account_stays_disabled_for_every_spelling(make_gateway, slapd) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(lambda core: _ldap_tenant(core, slapd),
                      policy_extra="credential_cache_ttl_s = 0\ndefender_max_score = 1000\n"
                                   "defender_account_max_score = 1000\n")
    assert _dav(gw, "bob@acme", BOB_PW) == "207"  # provisioned at first login
    [(name, directory_id)] = _accounts(gw)
    assert name == "bob"
    with gw.core() as core:
        admin.set_user(core, "acme", "bob", disabled=True)

    for login in SPELLINGS:
        assert _dav(gw, login, BOB_PW) == "401", login
    for login in ("BOB@acme", "Bob@acme"):
        assert not _ssh_password_ok(gw, login, BOB_PW), login
    assert _accounts(gw) == [("bob", directory_id)]  # no second account was made
    assert directory_id and directory_id.startswith("entryUUID:")  # bound to the person
    denied = gw.audit_events(action="login", result="denied")
    assert any("account disabled" in (e.get("reason") or "") for e in denied)


def test_account_bound_to_another_directory_entry_is_refused(make_gateway, slapd) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(lambda core: _ldap_tenant(core, slapd),
                      policy_extra="credential_cache_ttl_s = 0\n")
    assert _dav(gw, "Bob@acme", BOB_PW) == "207"  # any spelling: the account is "bob"
    assert [n for n, _ in _accounts(gw)] == ["bob"]
    with gw.core() as core, core.catalog.write() as conn:  # as if the uid were reused
        conn.execute(update(users).values(directory_id="entryUUID:someone-else"))
    assert _dav(gw, "bob@acme", BOB_PW) == "401"
    assert gw.wait_audit(action="login", result="denied", user="bob")


def _local_cast(core: Core) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "Carol", password=PW)  # stored canonical: "carol"


def test_local_accounts_use_the_same_canonical_form(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = make_gateway(_local_cast)
    assert [n for n, _ in _accounts(gw)] == ["carol"]
    for login in ("carol@acme", "CAROL@acme", "Carol@Acme"):
        assert _dav(gw, login, PW) == "207", login
    for login in (" carol@acme", "carol @acme", "car\x01ol@acme", "carol\u200b@acme"):
        assert _dav(gw, login, PW) == "401", login
    with gw.core() as core:
        with pytest.raises(AlreadyExists):
            admin.create_user(core, "acme", "CAROL", password=PW)
        assert admin.get_user(core, "acme", "CaRoL").name == "carol"
    assert _ssh_password_ok(gw, "CAROL@acme", PW)
    assert not _ssh_password_ok(gw, "carol @acme", PW)
