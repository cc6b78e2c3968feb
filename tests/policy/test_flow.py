"""LoginFlow (SSH) and authenticate_basic (WebDAV) against the catalog: 2FA semantics,
keys, app passwords, machines, networks. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from policy_helpers import PW, code, enroll, new_key

from gateway import admin
from gateway.audit import query_events
from gateway.errors import AuthenticationFailed
from gateway.policy import apppasswords, manage, sshkeys
from gateway.policy.gate import Attempt, Gate, Outcome
from gateway.principal import READ_ONLY


def last_login_reason(core) -> str:  # type: ignore[no-untyped-def]
    core.audit.flush()
    with core.catalog.read() as conn:
        evs = [e for e in query_events(conn, action="login")]
    return evs[-1]["reason"] or ""


@pytest.fixture
def twofa(core, acme):  # type: ignore[no-untyped-def]
    """acme with 2FA required; alice enrolled and holding a key."""
    manage.set_tenant_policy(core, "acme", second_factor="required")
    e = enroll(core, "acme", "alice")
    _key, line = new_key()
    sshkeys.add_key(core, "acme", "alice", line)
    return e, line


def sftp(login: str = "alice@acme", addr: str = "203.0.113.7") -> Attempt:
    return Attempt("sftp", login, addr, "test-client")


def test_key_then_totp_accepted(core, gate: Gate, twofa) -> None:  # type: ignore[no-untyped-def]
    e, line = twofa
    flow = gate.begin(sftp())
    assert "password" not in flow.methods()
    assert flow.public_key_acceptable(line)
    r = flow.public_key_verified(line)
    assert r.outcome is Outcome.CONTINUE and r.next_methods == ("keyboard-interactive",)
    assert r.principal is None
    assert flow.methods() == ("keyboard-interactive",)
    assert flow.kbdint_prompts() == [("Verification code: ", True)]
    r = flow.kbdint_answers([code(e.secret)])
    assert r.outcome is Outcome.ACCEPT and r.principal and r.principal.user_name == "alice"


def test_key_alone_never_accepts(core, gate: Gate, twofa) -> None:  # type: ignore[no-untyped-def]
    _, line = twofa
    flow = gate.begin(sftp())
    assert flow.public_key_verified(line).outcome is Outcome.CONTINUE
    # a fallback to the plain password method with the RIGHT password is refused
    assert flow.password(PW).outcome is Outcome.REJECT
    assert "plain password method is never accepted" in last_login_reason(core)
    # and an empty/garbage kbdint round too
    flow.kbdint_prompts()
    assert flow.kbdint_answers(["000000"]).outcome is Outcome.REJECT


def test_password_method_never_offered_or_accepted_with_2fa(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    flow = gate.begin(sftp())
    assert flow.methods() == ("publickey", "keyboard-interactive")
    r = flow.password(PW)
    assert r.outcome is Outcome.REJECT
    assert "plain password method is never accepted" in last_login_reason(core)


def test_kbdint_password_and_code_in_one_exchange(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    e, _ = twofa
    flow = gate.begin(sftp())
    assert flow.kbdint_prompts() == [("Password: ", False), ("Verification code: ", True)]
    r = flow.kbdint_answers([PW, code(e.secret)])
    assert r.outcome is Outcome.ACCEPT


def test_code_alone_wrong_password_refused(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    e, _ = twofa
    flow = gate.begin(sftp())
    flow.kbdint_prompts()
    assert flow.kbdint_answers(["", code(e.secret)]).outcome is Outcome.REJECT
    flow.kbdint_prompts()
    assert flow.kbdint_answers(["wrong password", code(e.secret)]).outcome is Outcome.REJECT
    flow.kbdint_prompts()
    assert flow.kbdint_answers([PW]).outcome is Outcome.REJECT  # code missing


def test_reused_and_old_codes_refused(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    e, line = twofa
    c = code(e.secret, +1)
    flow = gate.begin(sftp())
    flow.public_key_verified(line)
    flow.kbdint_prompts()
    assert flow.kbdint_answers([c]).outcome is Outcome.ACCEPT
    flow2 = gate.begin(sftp())
    flow2.public_key_verified(line)
    flow2.kbdint_prompts()
    assert flow2.kbdint_answers([c]).outcome is Outcome.REJECT  # replay
    assert "TOTP" in last_login_reason(core)
    flow3 = gate.begin(sftp())
    flow3.public_key_verified(line)
    flow3.kbdint_prompts()
    assert flow3.kbdint_answers([code(e.secret, -3)]).outcome is Outcome.REJECT  # too old


def test_recovery_code_single_use(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    e, line = twofa
    for expected in (Outcome.ACCEPT, Outcome.REJECT):
        flow = gate.begin(sftp())
        flow.public_key_verified(line)
        flow.kbdint_prompts()
        assert flow.kbdint_answers([e.recovery[0]]).outcome is expected


def test_grace_period_then_enforced(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    manage.set_tenant_policy(core, "acme", second_factor="required", grace=timedelta(days=3))
    flow = gate.begin(sftp())
    assert flow.password(PW).outcome is Outcome.ACCEPT  # not enrolled, inside grace
    manage.set_tenant_policy(core, "acme", grace=timedelta(0))
    flow = gate.begin(sftp())
    assert "password" not in flow.methods()
    assert flow.password(PW).outcome is Outcome.REJECT


def test_no_2fa_password_and_key(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    flow = gate.begin(sftp())
    assert set(flow.methods()) == {"password", "publickey", "keyboard-interactive"}
    assert flow.password("wrong password!").outcome is Outcome.REJECT
    assert flow.password(PW).outcome is Outcome.ACCEPT
    _, line = new_key()
    _other, _ = new_key()
    sshkeys.add_key(core, "acme", "alice", line)
    flow = gate.begin(sftp())
    assert flow.public_key_verified(line).outcome is Outcome.ACCEPT
    _, stranger = new_key()
    assert not gate.begin(sftp()).public_key_acceptable(stranger)


def test_key_networks_and_expiry(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    _, line = new_key()
    sshkeys.add_key(core, "acme", "alice", line, networks=["198.51.100.0/24", "2001:db8::/32"])
    assert gate.begin(sftp(addr="198.51.100.9")).public_key_verified(line).outcome \
        is Outcome.ACCEPT
    assert gate.begin(sftp(addr="2001:db8::5")).public_key_verified(line).outcome \
        is Outcome.ACCEPT
    flow = gate.begin(sftp(addr="203.0.113.7"))
    assert not flow.public_key_acceptable(line)
    assert flow.public_key_verified(line).outcome is Outcome.REJECT
    assert "credential-network" in last_login_reason(core)
    _, old = new_key()
    sshkeys.add_key(core, "acme", "alice", old,
                    expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert gate.begin(sftp()).public_key_verified(old).outcome is Outcome.REJECT
    assert "expired" in last_login_reason(core)


def test_machine_account(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    admin.create_user(core, "acme", "robot", password=PW, kind="machine")
    _, line = new_key()
    sshkeys.add_key(core, "acme", "robot", line)
    flow = gate.begin(sftp("robot@acme"))
    assert flow.public_key_verified(line).outcome is Outcome.REJECT
    assert "machine account without a network list" in last_login_reason(core)
    manage.set_user_policy(core, "acme", "robot", networks=["203.0.113.0/24"])
    flow = gate.begin(sftp("robot@acme"))
    # offered like any human of the tenant (#9.15); the password is still refused
    assert flow.methods() == gate.begin(sftp("nobody@acme")).methods()
    assert flow.password(PW).outcome is Outcome.REJECT
    assert flow.public_key_verified(line).outcome is Outcome.ACCEPT
    assert gate.begin(sftp("robot@acme", "192.0.2.1")).public_key_verified(line).outcome \
        is Outcome.REJECT


def test_unknown_user_offered_like_a_human(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    known = gate.begin(sftp()).methods()
    ghost = gate.begin(sftp("nobody@acme"))
    assert ghost.methods() == known
    assert ghost.kbdint_prompts() == [("Password: ", False), ("Verification code: ", True)]
    assert ghost.kbdint_answers([PW, "123456"]).outcome is Outcome.REJECT
    assert "unknown user" in last_login_reason(core)


def test_tenant_level_refusal_at_every_step(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    """A tenant without SSH and an unknown tenant look alike: the usual methods are
    offered and every credential is refused (#9.15: no disconnect at ``begin``)."""
    admin.set_tenant(core, "acme", protocols=["webdav"])
    flow = gate.begin(sftp())
    assert flow.methods() == ("publickey", "keyboard-interactive", "password")
    assert flow.password(PW).outcome is Outcome.REJECT
    assert "not allowed for tenant" in last_login_reason(core)
    unknown = gate.begin(sftp("alice@nosuch"))
    assert unknown.methods() == flow.methods()
    assert unknown.password(PW).outcome is Outcome.REJECT
    assert "unknown tenant" in last_login_reason(core)


# --- WebDAV ----------------------------------------------------------------------------------
def dav(login: str = "alice@acme", addr: str = "203.0.113.7") -> Attempt:
    return Attempt("webdav", login, addr, "curl/8")


def test_webdav_app_password_and_2fa(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthenticationFailed) as exc:
        gate.authenticate_basic(dav(), PW)
    # no hint: it would tell that the password was right (#9.14); the audit says why
    assert exc.value.hint == "" and exc.value.hint_text == ""
    assert "use an app password" in last_login_reason(core)
    _ap, secret = apppasswords.create(core, "acme", "alice", "laptop")
    p = gate.authenticate_basic(dav(), secret)
    assert p.auth_method == "app-password" and p.scope_prefix == "/"
    # wrong app password: generic, no hint
    with pytest.raises(AuthenticationFailed) as exc:
        gate.authenticate_basic(dav(), secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert exc.value.hint == ""
    # the app password is useless over SFTP
    flow = gate.begin(sftp())
    assert flow.password(secret).outcome is Outcome.REJECT


def test_webdav_app_password_revoked_expired_network_scope(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    gate.credential_cache.ttl_s = 0  # revocation visible at once for this test
    _ap, secret = apppasswords.create(core, "acme", "alice", "phone", read_only=True,
                                     prefix="/Shared/", networks=["203.0.113.0/24"])
    p = gate.authenticate_basic(dav(), secret)
    assert p.scope_prefix == "/Shared" and p.scope_perms == READ_ONLY
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(dav(addr="192.0.2.8"), secret)
    assert "credential-network" in last_login_reason(core)
    apppasswords.revoke(core, "acme", "alice", "phone")
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(dav(), secret)
    assert "revoked" in last_login_reason(core)
    _, old = apppasswords.create(core, "acme", "alice", "old",
                                 expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(dav(), old)
    assert "expired" in last_login_reason(core)


def test_cached_credential_still_checks_network(core, gate, twofa) -> None:  # type: ignore[no-untyped-def]
    _, secret = apppasswords.create(core, "acme", "alice", "pc", networks=["203.0.113.0/24"])
    gate.authenticate_basic(dav(), secret)
    assert len(gate.credential_cache) == 1
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(dav(addr="192.0.2.8"), secret)


def test_webdav_machine_needs_app_password(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    admin.create_user(core, "acme", "robot", password=PW, kind="machine")
    manage.set_user_policy(core, "acme", "robot", networks=["203.0.113.0/24"])
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(dav("robot@acme"), PW)
    _, secret = apppasswords.create(core, "acme", "robot", "backup")
    assert gate.authenticate_basic(dav("robot@acme"), secret).user_name == "robot"


def test_webdav_password_without_2fa(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    assert gate.authenticate_basic(dav(), PW).user_name == "alice"
    admin.set_user(core, "acme", "alice", disabled=True)
    gate.credential_cache.clear()
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(dav(), PW)


def test_session_limits(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    from gateway.policy.gate import TooManySessions

    manage.set_tenant_policy(core, "acme", max_sessions_per_user=1)
    p = gate.authenticate_basic(dav(), PW)
    t1 = gate.open_session(p, "sftp", "203.0.113.7")
    with pytest.raises(TooManySessions):
        gate.open_session(p, "sftp", "203.0.113.7")
    t1.close()
    gate.open_session(p, "sftp", "203.0.113.7").close()


def test_check_protocol_per_operation(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    p = gate.authenticate_basic(dav(), PW)
    gate.check_protocol(p, "scp", "203.0.113.7")
    admin.set_tenant(core, "acme", protocols=["webdav", "sftp"])
    with pytest.raises(AuthenticationFailed):
        gate.check_protocol(p, "scp", "203.0.113.7")
    admin.set_user(core, "acme", "alice", disabled=True)
    with pytest.raises(AuthenticationFailed):
        gate.check_protocol(p, "sftp", "203.0.113.7")


def test_user_level_refusal_only_after_valid_credential(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    manage.set_user_policy(core, "acme", "alice", protocols=["sftp"])
    with pytest.raises(AuthenticationFailed) as exc:
        gate.authenticate_basic(dav(), "wrong password!")
    assert exc.value.rule == "" and exc.value.hint == ""
    assert "wrong password" in last_login_reason(core)
    with pytest.raises(AuthenticationFailed) as exc:
        gate.authenticate_basic(dav(), PW)
    assert exc.value.rule == "user-protocol"
    admin.set_tenant(core, "acme", protocols=["sftp"])
    with pytest.raises(AuthenticationFailed) as exc:
        gate.authenticate_basic(dav(), "anything")
    assert exc.value.rule == "protocol"  # tenant-level: known before any credential


def test_ticket_recheck_and_expiry(core, gate, acme) -> None:  # type: ignore[no-untyped-def]
    p = gate.authenticate_basic(dav(), PW)
    ticket = gate.open_session(p, "sftp", "203.0.113.7")
    ticket.recheck(every_s=0)
    admin.set_user(core, "acme", "alice", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    ticket.recheck(every_s=3600)  # throttled: not re-decided yet
    with pytest.raises(AuthenticationFailed) as exc:
        ticket.recheck(every_s=0)
    assert exc.value.rule == "user"
    assert "account expired" in last_login_reason(core)
    ticket.close()
