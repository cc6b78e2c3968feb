"""Issues #9.14 and #9.15: the answers must not tell whether a password is right (2FA
users over WebDAV) nor whether a tenant or a user exists (methods, timing, disconnects)."""

from __future__ import annotations

import statistics

import paramiko
import pytest

from gateway.core import Core
from gateway.policy import manage

from .identity_support import (
    PW,
    enroll_totp,
    harness,
    offered_methods,
    paramiko_transport,
    timed,
    webdav_answer,
)

NO_BANS = "defender_max_score = 100000\ndefender_account_max_score = 100000\n"


def _cast(core: Core) -> None:
    """acme: alice (TOTP), bob (plain), carol (no WebDAV for her), robot (machine)."""
    from gateway import admin

    harness.standard_cast(core)
    enroll_totp(core, "acme", "alice")
    admin.create_user(core, "acme", "carol", password=PW)
    manage.set_user_policy(core, "acme", "carol", protocols=["sftp"])
    admin.create_user(core, "acme", "robot", password=PW, kind="machine")


@pytest.fixture(scope="module")
def enumgw(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with harness.started_gateway(tmp_path_factory.mktemp("enum"), _cast,
                                 policy_extra=NO_BANS) as gw:
        yield gw


# --- #9.14 -------------------------------------------------------------------------------
def test_2fa_user_right_and_wrong_password_answered_alike(enumgw) -> None:  # type: ignore[no-untyped-def]
    right = webdav_answer(enumgw, "alice@acme", PW)
    wrong = webdav_answer(enumgw, "alice@acme", "not-the-password")
    assert right[0] == "401"
    assert right == wrong
    assert right == webdav_answer(enumgw, "nobody@acme", PW)  # nor whether she exists
    reasons = [e["reason"] for e in enumgw.audit_events(action="login", user="alice")]
    assert any("app password" in r for r in reasons)  # the audit log keeps the why


def test_user_without_webdav_right_and_wrong_password_answered_alike(enumgw) -> None:  # type: ignore[no-untyped-def]
    right = webdav_answer(enumgw, "carol@acme", PW)
    assert right[0] == "401"
    assert right == webdav_answer(enumgw, "carol@acme", "not-the-password")


# --- #9.15 SSH: methods and disconnects ----------------------------------------------------
def test_same_ssh_methods_whoever_asks(enumgw) -> None:  # type: ignore[no-untyped-def]
    plain = offered_methods(enumgw.sftp_port, "bob@acme")
    assert "password" in plain
    for login in ("alice@acme", "robot@acme", "nobody@acme", "nobody@nosuchtenant"):
        assert offered_methods(enumgw.sftp_port, login) == plain, login


@pytest.mark.parametrize("login", ["nobody@acme", "nobody@nosuchtenant", "alice@acme"])
def test_wrong_password_keeps_the_connection_like_for_a_user(enumgw, login: str) -> None:  # type: ignore[no-untyped-def]
    t = paramiko_transport(enumgw.sftp_port)
    try:
        for _ in range(2):
            with pytest.raises(paramiko.AuthenticationException):
                t.auth_password(login, "not-the-password")
        assert t.is_active()
    finally:
        t.close()


# --- #9.15 timing -----------------------------------------------------------------------------
def _median(fn, *args, n: int = 5) -> float:  # type: ignore[no-untyped-def]
    fn(*args)  # warm-up (connections, caches)
    return statistics.median(timed(fn, *args) for _ in range(n))


def test_unknown_tenant_refused_as_slowly_as_a_known_user_over_webdav(enumgw) -> None:  # type: ignore[no-untyped-def]
    known = _median(webdav_answer, enumgw, "bob@acme", "not-the-password")
    unknown = _median(webdav_answer, enumgw, "bob@nosuchtenant", "not-the-password")
    assert unknown >= 0.5 * known, (unknown, known)


def _ssh_wrong_password(port: int, login: str) -> None:
    t = paramiko_transport(port)
    try:
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_password(login, "not-the-password")
    finally:
        t.close()


def test_unknown_tenant_refused_as_slowly_as_a_known_user_over_ssh(enumgw) -> None:  # type: ignore[no-untyped-def]
    known = _median(_ssh_wrong_password, enumgw.sftp_port, "bob@acme")
    unknown = _median(_ssh_wrong_password, enumgw.sftp_port, "bob@nosuchtenant")
    assert unknown >= 0.5 * known, (unknown, known)
