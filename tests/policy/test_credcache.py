"""The positive credential cache of Gate.authenticate_basic."""

from __future__ import annotations

import time

import pytest

from gateway import admin
from gateway.errors import AuthenticationFailed
from gateway.policy import passwords
from gateway.policy.credcache import CredentialCache
from gateway.policy.gate import Attempt, Gate

PW = "correct horse battery"


def test_cache_unit_ttl_bound_and_no_secret() -> None:
    c: CredentialCache[str] = CredentialCache(ttl_s=0.2, max_entries=2)
    c.put("acme", "alice", PW, "P")
    assert c.get("acme", "alice", PW) == "P"
    assert c.get("acme", "alice", PW + "x") is None
    assert c.get("globex", "alice", PW) is None
    # nothing stored contains the password
    assert all(PW.encode() not in k and PW not in repr(v) for k, v in c._entries.items())
    c.put("acme", "b", PW, "B")
    c.put("acme", "c", PW, "C")
    assert len(c) == 2 and c.get("acme", "alice", PW) is None  # LRU bound
    time.sleep(0.25)
    assert c.get("acme", "c", PW) is None  # TTL
    off: CredentialCache[str] = CredentialCache(ttl_s=0)
    off.put("acme", "alice", PW, "P")
    assert off.get("acme", "alice", PW) is None


def _count_verifies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = passwords.verify_password

    def counting(h, pw):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return real(h, pw)

    monkeypatch.setattr(passwords, "verify_password", counting)
    return calls


def test_basic_auth_cached_and_failures_not(core, tenant, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    admin.create_user(core, "acme", "alice", password=PW)
    gate = Gate(core)
    calls = _count_verifies(monkeypatch)
    a = Attempt("webdav", "alice@acme", "127.0.0.1")
    p1 = gate.authenticate_basic(a, PW)
    p2 = gate.authenticate_basic(a, PW)
    assert p1 == p2 and calls[0] == 1
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            gate.authenticate_basic(a, "wrong password!")
    assert calls[0] == 3  # each failure checked again, never cached


def test_password_change_ends_access_within_ttl(core, tenant) -> None:  # type: ignore[no-untyped-def]
    core.config.policy.credential_cache_ttl_s = 1
    admin.create_user(core, "acme", "alice", password=PW)
    gate = Gate(core)
    a = Attempt("webdav", "alice@acme", "127.0.0.1")
    gate.authenticate_basic(a, PW)
    admin.set_user(core, "acme", "alice", password="another password 2")
    time.sleep(1.1)
    with pytest.raises(AuthenticationFailed):
        gate.authenticate_basic(a, PW)


def test_argon2_checks_run_at_most_one_per_core_at_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A burst of password logins queues instead of taking 64 MiB per waiting thread."""
    import os
    import threading
    import time

    from gateway.policy import passwords

    active = peak = 0
    lock = threading.Lock()
    real = passwords._hasher.verify

    def counting(stored: str, password: str) -> bool:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.02)
            return real(stored, password)
        finally:
            with lock:
                active -= 1

    stored = passwords.hash_password("correct horse battery")

    class Counting:  # PasswordHasher has slots: wrap it
        verify = staticmethod(counting)

    monkeypatch.setattr(passwords, "_hasher", Counting())
    threads = [threading.Thread(target=passwords.verify_password,
                                args=(stored, "correct horse battery")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= peak <= max(1, os.cpu_count() or 1)
