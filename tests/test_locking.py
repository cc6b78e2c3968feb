"""WebDAV locks as a core service (gateway/session/locking.py): every lock call is checked and
audited once by the core, tokens bind to the user who took the lock, and the lock check of
a change runs inside the change's own transaction."""

from __future__ import annotations

import pytest

from gateway import admin
from gateway.audit import query_events
from gateway.core import Core
from gateway.errors import Locked, NotFound, PermissionDenied
from gateway.session import Session


def events(core: Core) -> list[tuple[str, str, str]]:
    """(action, user, result) of the tenant's audit events, from the catalog."""
    core.audit.flush()
    with core.catalog.read() as conn:
        return [(e["action"], e["user"], e["result"])
                for e in query_events(conn, tenant="acme")]


@pytest.fixture
def bob(core: Core, session: Session) -> Session:
    admin.create_user(core, "acme", "bob")
    return core.session(admin.principal_for(core, "acme", "bob"), "webdav", "::1")


def test_lock_calls_are_checked_and_audited_by_the_core(core: Core, session: Session,
                                                        bob: Session) -> None:
    session.write_file("/doc.txt", b"x")
    lock = session.lock("/doc.txt", scope="exclusive", timeout=60)
    assert lock["principal"] == "alice@acme" and lock["root"] == "/doc.txt"
    assert [lk["token"] for lk in bob.discover("/doc.txt")] == [lock["token"]]
    with pytest.raises(Locked):
        bob.lock("/doc.txt", scope="shared")
    with pytest.raises(PermissionDenied):
        bob.unlock("/doc.txt", lock["token"])
    with pytest.raises(PermissionDenied):
        bob.refresh_lock("/doc.txt", lock["token"], 600)
    with pytest.raises(NotFound):
        session.unlock("/other.txt", lock["token"])  # the token does not cover that path
    with pytest.raises(Locked):
        bob.check_unlocked("write", "/doc.txt", [lock["token"]])
    assert session.refresh_lock("/doc.txt", lock["token"], 600)["timeout"] == 600
    session.unlock("/doc.txt", lock["token"])
    assert session.discover("/doc.txt") == []  # (bob's snapshot: one per session/request)
    lock_events = {"lock", "lock-refresh", "unlock"}
    assert sorted(e for e in events(core)
                  if e[0] in lock_events or e[:2] == ("write", "bob")) == [
        ("lock", "alice", "ok"), ("lock", "bob", "denied"), ("lock-refresh", "alice", "ok"),
        ("lock-refresh", "bob", "denied"), ("unlock", "alice", "miss"),
        ("unlock", "alice", "ok"), ("unlock", "bob", "denied"), ("write", "bob", "denied")]


def test_shared_locks_and_depth_conflicts(session: Session, bob: Session) -> None:
    session.mkdir("/team/sub", parents=True)
    first = session.lock("/team/sub", scope="shared")
    bob.lock("/team/sub", scope="shared")  # shared with shared: both granted
    with pytest.raises(Locked):
        bob.lock("/team", depth="infinity")  # a lock inside it
    session.lock("/team", depth="0")  # a depth-0 lock does not cover its members
    with pytest.raises(Locked):
        session.lock("/team/sub", depth="0")  # exclusive over the shared ones
    session.unlock("/team/sub", first["token"])
    assert len(session.discover("/team/sub")) == 1


def test_moving_a_locked_file_with_its_token_drops_the_lock(session: Session) -> None:
    session.write_file("/a.txt", b"a")
    token = session.lock("/a.txt")["token"]
    with pytest.raises(Locked):
        session.move("/a.txt", "/b.txt")
    session.move("/a.txt", "/b.txt", lock_tokens=[token])
    assert session.locks() == []  # locks belong to URLs: the old one is gone
    session.write_file("/a.txt", b"new file, no lock")
