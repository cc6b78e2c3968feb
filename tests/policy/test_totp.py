"""TOTP storage and replay protection; argon2 upgrade on login."""

from __future__ import annotations

import threading

import pytest
from policy_helpers import PW, code, enroll

from gateway import admin
from gateway.catalog.tables import totp_secrets, users
from gateway.errors import KeyUnavailable
from gateway.policy import passwords, totp
from gateway.policy.gate import Attempt, Gate
from gateway.policy.records import user_ids


def test_secret_sealed_and_shredded_with_tenant(core, acme) -> None:  # type: ignore[no-untyped-def]
    e = enroll(core, "acme", "alice")
    tid, uid = user_ids(core, "acme", "alice")
    with core.catalog.read() as conn:
        row = conn.execute(totp_secrets.select()).one()
    assert e.secret.encode() not in row.secret_enc
    with core.catalog.write() as conn:
        core.keyring.destroy_tenant_keys(conn, tid)
    core.keyring._forget(tid)
    with pytest.raises(KeyUnavailable):
        totp.verify(core, tid, uid, code(e.secret))


def test_unconfirmed_not_enforced_and_confirm_needs_valid_code(core, acme) -> None:  # type: ignore[no-untyped-def]
    e = totp.enroll(core, "acme", "alice")
    with core.catalog.read() as conn:
        assert not totp.enrolled(conn, user_ids(core, "acme", "alice")[1])
    with pytest.raises(Exception, match="not valid"):
        totp.confirm(core, "acme", "alice", code(e.secret, -4))
    assert len(totp.confirm(core, "acme", "alice", code(e.secret))) == 10


def test_replay_is_atomic_across_concurrent_checks(core, acme) -> None:  # type: ignore[no-untyped-def]
    e = enroll(core, "acme", "alice")
    tid, uid = user_ids(core, "acme", "alice")
    c = code(e.secret, +1)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def attempt() -> None:
        barrier.wait()
        results.append(totp.verify(core, tid, uid, c))

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert not totp.verify(core, tid, uid, code(e.secret, 0))  # older step after newer one


def test_argon2_hash_upgraded_on_login(core, acme) -> None:  # type: ignore[no-untyped-def]
    passwords.configure(1, 8192, 1)
    admin.create_user(core, "acme", "old", password=PW)
    with core.catalog.read() as conn:
        before = conn.execute(users.select().where(users.c.name == "old")).one().password_hash
    assert "m=8192" in before
    gate = Gate(core)  # configures the default (stronger) parameters
    gate.authenticate_basic(Attempt("webdav", "old@acme", "127.0.0.1"), PW)
    with core.catalog.read() as conn:
        after = conn.execute(users.select().where(users.c.name == "old")).one().password_hash
    assert after != before and "m=65536" in after
    assert passwords.verify_password(after, PW)


def test_tenant_purge_removes_policy_rows(core, acme) -> None:  # type: ignore[no-untyped-def]
    from policy_helpers import new_key
    from sqlalchemy import func, select

    from gateway.catalog.tables import app_passwords, recovery_codes, ssh_keys
    from gateway.policy import apppasswords, sshkeys

    enroll(core, "acme", "alice")
    sshkeys.add_key(core, "acme", "alice", new_key()[1])
    apppasswords.create(core, "acme", "alice", "laptop")
    gate = Gate(core)
    gate.open_session(gate.authenticate_basic(Attempt("webdav", "alice@acme", "::1"),
                                              apppasswords.create(core, "acme", "alice",
                                                                  "x")[1]), "sftp", "::1")
    admin.purge_tenant(core, "acme")
    with core.catalog.read() as conn:
        for table in (totp_secrets, recovery_codes, ssh_keys, app_passwords):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
