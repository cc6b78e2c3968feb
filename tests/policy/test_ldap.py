"""LDAP identity against a real OpenLDAP slapd (StartTLS and LDAPS with a generated CA)."""

from __future__ import annotations

import time

import pytest
from policy_helpers import PW
from slapd_fixture import PASSWORDS, SVC_DN, SVC_PW, Slapd, free_port

from gateway import admin
from gateway.audit import query_events
from gateway.errors import AuthenticationFailed
from gateway.policy import manage
from gateway.policy.defender import Defender, Limits
from gateway.policy.gate import Attempt, Gate, Outcome

ALL = ["delete", "list", "read", "rename", "write"]


def setup_tenant(core, slapd: Slapd, name: str, *, urls=None, identity="ldap",  # type: ignore[no-untyped-def]
                 ca_file=None) -> None:
    admin.create_tenant(core, name)
    manage.set_ldap(core, name, bind_password=SVC_PW, urls=urls or [slapd.url],
                    base_dn=f"ou={name},dc=example,dc=org", bind_dn=SVC_DN,
                    ca_file=ca_file or slapd.ca_file, timeout_s=2.0,
                    group_map={f"{name}-admins": [{"prefix": "/", "perms": ALL}],
                               f"{name}-users": [{"prefix": "/", "perms": ["list", "read"]}]})
    manage.set_tenant_policy(core, name, identity=identity)


def dav(login: str, addr: str = "203.0.113.7") -> Attempt:
    return Attempt("webdav", login, addr)


def reason(core) -> str:  # type: ignore[no-untyped-def]
    core.audit.flush()
    with core.catalog.read() as conn:
        return list(query_events(conn, action="login"))[-1]["reason"] or ""


@pytest.fixture
def ldap_gate(core, slapd):  # type: ignore[no-untyped-def]
    setup_tenant(core, slapd, "acme")
    setup_tenant(core, slapd, "globex")
    gate = Gate(core)
    gate.credential_cache.ttl_s = 0
    return gate


def test_right_wrong_and_groups(core, ldap_gate, slapd) -> None:  # type: ignore[no-untyped-def]
    p = ldap_gate.authenticate_basic(dav("alice@acme"), PASSWORDS[("acme", "alice")])
    assert p.user_name == "alice" and p.allowed("write", "/x")  # acme-admins
    assert "directory bind ok" in reason(core)
    bob = ldap_gate.authenticate_basic(dav("bob@acme"), PASSWORDS[("acme", "bob")])
    assert bob.allowed("read", "/x") and not bob.allowed("write", "/x")  # acme-users only
    with pytest.raises(AuthenticationFailed) as exc:
        ldap_gate.authenticate_basic(dav("bob@acme"), "not-bobs-password")
    assert str(exc.value) == "authentication failed"
    assert "directory bind refused" in reason(core)
    with pytest.raises(AuthenticationFailed):
        ldap_gate.authenticate_basic(dav("bob@acme"), "")
    assert "empty password" in reason(core)
    ldap_gate.authenticate_basic(dav("bob@acme"), PASSWORDS[("acme", "bob")])  # reset ppolicy


def test_same_uid_two_tenants_never_cross(core, ldap_gate) -> None:  # type: ignore[no-untyped-def]
    acme_pw, globex_pw = PASSWORDS[("acme", "alice")], PASSWORDS[("globex", "alice")]
    a = ldap_gate.authenticate_basic(dav("alice@acme"), acme_pw)
    g = ldap_gate.authenticate_basic(dav("alice@globex"), globex_pw)
    assert a.tenant_name == "acme" and g.tenant_name == "globex" and a.user_id != g.user_id
    with pytest.raises(AuthenticationFailed):
        ldap_gate.authenticate_basic(dav("alice@globex"), acme_pw)
    with pytest.raises(AuthenticationFailed):
        ldap_gate.authenticate_basic(dav("alice@acme"), globex_pw)
    with pytest.raises(AuthenticationFailed):  # dave lives in globex only
        ldap_gate.authenticate_basic(dav("dave@acme"), PASSWORDS[("globex", "dave")])
    assert "no such user in directory" in reason(core)
    ldap_gate.authenticate_basic(dav("alice@acme"), acme_pw)  # clear failure counters
    ldap_gate.authenticate_basic(dav("alice@globex"), globex_pw)


def test_locked_account_refused(core, ldap_gate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationFailed) as exc:
        ldap_gate.authenticate_basic(dav("carol@acme"), PASSWORDS[("acme", "carol")])
    assert str(exc.value) == "authentication failed"  # no "locked" for the client
    assert "directory bind refused" in reason(core)


@pytest.mark.parametrize("login", ["*@acme", "b*@acme", "bob)(uid=*@acme", "*)(|(uid=*@acme",
                                   "bob\\2a@acme", "bob)(objectClass=*@acme"])
def test_filter_injection(core, ldap_gate, login) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationFailed):
        ldap_gate.authenticate_basic(dav(login), PASSWORDS[("acme", "bob")])
    assert "no such user in directory" in reason(core) or "unknown user" in reason(core)


def test_ldaps_and_failover(core, slapd) -> None:  # type: ignore[no-untyped-def]
    dead = f"ldap://127.0.0.1:{free_port()}"
    setup_tenant(core, slapd, "acme", urls=[dead, slapd.ldaps_url])
    gate = Gate(core)
    t0 = time.monotonic()
    assert gate.authenticate_basic(dav("bob@acme"), PASSWORDS[("acme", "bob")])
    assert time.monotonic() - t0 < 2
    flow = gate.begin(Attempt("sftp", "bob@acme", "203.0.113.7"))
    assert flow.password(PASSWORDS[("acme", "bob")]).outcome is Outcome.ACCEPT


def test_untrusted_certificate_fails_closed(core, slapd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=other", "-keyout", str(tmp_path / "k.pem"), "-out",
                    str(other_ca)], check=True, capture_output=True)
    setup_tenant(core, slapd, "acme", ca_file=str(other_ca))
    with pytest.raises(AuthenticationFailed):
        Gate(core).authenticate_basic(dav("bob@acme"), PASSWORDS[("acme", "bob")])
    assert "LDAP unavailable" in reason(core)


def test_slapd_down_fails_closed_then_recovers(core, slapd) -> None:  # type: ignore[no-untyped-def]
    setup_tenant(core, slapd, "acme", identity="ldap+local")
    admin.create_user(core, "acme", "bob", password=PW)  # a local password too: never used
    gate = Gate(core)  # default config: LDAP logins are not kept in the credential cache
    bob_pw = PASSWORDS[("acme", "bob")]
    assert gate.authenticate_basic(dav("bob@acme"), bob_pw)
    assert len(gate.credential_cache) == 0
    slapd.stop()
    try:
        for pw in (bob_pw, PW):
            with pytest.raises(AuthenticationFailed):
                gate.authenticate_basic(dav("bob@acme"), pw)
            assert "LDAP unavailable, refusing" in reason(core)
        flow = gate.begin(Attempt("sftp", "bob@acme", "203.0.113.7"))
        assert flow.password(bob_pw).outcome is Outcome.REJECT
    finally:
        slapd.start()
    assert gate.authenticate_basic(dav("bob@acme"), bob_pw).user_name == "bob"


def test_attacker_cannot_lock_directory_account(core, ldap_gate) -> None:  # type: ignore[no-untyped-def]
    gate = ldap_gate
    gate.defender = Defender(core, Limits(address_max=100, account_max=4))
    for i in range(12):  # more than the directory's lockout (5), from many addresses
        with pytest.raises(AuthenticationFailed):
            gate.authenticate_basic(dav("bob@acme", f"198.51.100.{i}"), f"guess-{i}")
    gate.defender.unban("acct:acme/bob")
    # the directory did not lock bob: his right password still works
    assert gate.authenticate_basic(dav("bob@acme", "203.0.113.9"), PASSWORDS[("acme", "bob")])


def test_optional_ldap_cache_stores_no_password(core, slapd, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gateway.policy.ldap import LdapDirectory

    core.config.policy.ldap_cache_ttl_s = 30
    setup_tenant(core, slapd, "acme")
    gate = Gate(core)
    calls = []
    real = LdapDirectory.authenticate

    def counting(self, uid, password):  # type: ignore[no-untyped-def]
        calls.append(uid)
        return real(self, uid, password)

    monkeypatch.setattr(LdapDirectory, "authenticate", counting)
    bob_pw = PASSWORDS[("acme", "bob")]
    flow = gate.begin(Attempt("sftp", "bob@acme", "203.0.113.7"))
    assert flow.password(bob_pw).outcome is Outcome.ACCEPT
    flow = gate.begin(Attempt("sftp", "bob@acme", "203.0.113.7"))
    assert flow.password(bob_pw).outcome is Outcome.ACCEPT
    assert calls == ["bob"]  # the second login was answered by the cache
    assert all(bob_pw not in repr(v) and bob_pw.encode() not in k
               for k, v in gate.identity.ldap_cache._entries.items())
    flow = gate.begin(Attempt("sftp", "bob@acme", "203.0.113.7"))
    assert flow.password("not-bobs").outcome is Outcome.REJECT  # failures never cached
    assert calls == ["bob", "bob"]
    core.config.policy.ldap_cache_ttl_s = 0
    Gate(core).authenticate_basic(dav("bob@acme"), bob_pw)  # a real bind resets ppolicy


def test_cli_configures_ldap(core, slapd, config, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import io
    import json as _json

    from policy_helpers import write_config

    from gateway.cli.main import main as cli

    admin.create_tenant(core, "acme")
    cfg = write_config(config)
    monkeypatch.setattr("sys.stdin", io.StringIO(SVC_PW + "\n"))
    assert cli(["-c", cfg, "policy", "ldap", "acme", "--url", slapd.url, "--base-dn",
                "ou=acme,dc=example,dc=org", "--bind-dn", SVC_DN, "--bind-password-stdin",
                "--ca-file", slapd.ca_file, "--group-map",
                _json.dumps({"acme-users": [{"prefix": "/", "perms": ["list", "read"]}]})]) == 0
    assert cli(["-c", cfg, "policy", "set", "acme", "--identity", "ldap"]) == 0
    out = capsys.readouterr().out
    assert SVC_PW not in out and "identity: ldap" in out
    assert cli(["-c", cfg, "--json", "policy", "show", "acme"]) == 0
    shown = capsys.readouterr().out
    assert SVC_PW not in shown and '"bind_password_sealed": "set"' in shown
    p = Gate(core).authenticate_basic(dav("bob@acme"), PASSWORDS[("acme", "bob")])
    assert p.allowed("read", "/") and not p.allowed("write", "/x")
