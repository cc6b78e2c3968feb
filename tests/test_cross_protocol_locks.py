"""WebDAV locks bind every protocol: a session that cannot present lock tokens (SFTP, SCP,
CLI) may not change what a WebDAV client has locked; the check is in the core."""

from __future__ import annotations

import pytest

from gateway import admin
from gateway.catalog import locks
from gateway.core import Core
from gateway.errors import Locked
from gateway.session import Session


def _lock(core: Core, session: Session, path: str, depth: str = "0") -> str:
    """A lock stored exactly as the WebDAV front-end stores one."""
    parts = [p for p in path.split("/") if p]
    with core.catalog.write() as conn:
        lock = locks.create(conn, session.tenant_id, f"opaquelocktoken:{path}", {
            "root": locks.lock_key(parts, session.principal.case_insensitive),
            "depth": depth, "scope": "exclusive", "type": "write", "owner": b"",
            "principal": "bob@acme", "timeout": 600})
    return lock["token"]


def _unlock(core: Core, session: Session, token: str) -> None:
    with core.catalog.write() as conn:
        locks.delete_token(conn, session.tenant_id, token)


def test_a_locked_file_refuses_changes_from_other_protocols(core: Core, session: Session
                                                            ) -> None:
    session.mkdir("/docs")
    session.write_file("/docs/report.odt", b"version one")
    token = _lock(core, session, "/docs/report.odt")
    with pytest.raises(Locked, match="locked"):
        session.write_file("/docs/report.odt", b"overwritten over SFTP")
    with pytest.raises(Locked):
        session.delete("/docs/report.odt")
    with pytest.raises(Locked):
        session.move("/docs/report.odt", "/docs/renamed.odt")
    with pytest.raises(Locked):
        session.delete("/docs", recursive=True)  # a folder holding a locked file
    session.write_file("/docs/other.txt", b"a depth-0 file lock leaves siblings free")
    assert session.read_file("/docs/report.odt") == b"version one"
    _unlock(core, session, token)
    session.write_file("/docs/report.odt", b"version two")
    assert session.read_file("/docs/report.odt") == b"version two"


def test_folder_locks_cover_membership_and_depth(core: Core, session: Session) -> None:
    session.mkdir("/team/sub", parents=True)
    session.write_file("/team/sub/a.txt", b"a")
    token = _lock(core, session, "/team", depth="0")
    with pytest.raises(Locked):  # a new member of a locked folder
        session.write_file("/team/new.txt", b"x")
    with pytest.raises(Locked):
        session.mkdir("/team/newdir")
    session.write_file("/team/sub/a.txt", b"deeper changes are free under a depth-0 lock")
    _unlock(core, session, token)
    token = _lock(core, session, "/TEAM", depth="infinity")  # case-insensitive tenant
    with pytest.raises(Locked):
        session.write_file("/team/sub/a.txt", b"not under an infinite lock")
    with pytest.raises(Locked):
        session.copy("/team/sub/a.txt", "/team/sub/b.txt")
    session.copy("/team/sub/a.txt", "/elsewhere.txt")  # reading is free
    _unlock(core, session, token)
    session.write_file("/team/new.txt", b"free again")


def test_a_write_presenting_the_token_of_its_own_lock_passes(core: Core, session: Session
                                                            ) -> None:
    """The token binds to its owner: WebDAV presents the client's tokens with each call;
    another user's token, or none, is refused by the core."""
    session.write_file("/f.txt", b"one")
    admin.create_user(core, "acme", "bob")
    bob = core.session(admin.principal_for(core, "acme", "bob"), "webdav", "::1")
    alice = core.session(admin.principal_for(core, "acme", "alice"), "webdav", "::1")
    token = bob.lock("/f.txt")["token"]
    with pytest.raises(Locked):
        alice.write_file("/f.txt", b"two", lock_tokens=[token])  # not alice's lock
    with pytest.raises(Locked):
        bob.write_file("/f.txt", b"two")  # the owner, without the token
    bob.write_file("/f.txt", b"two", lock_tokens=[token])
    assert session.read_file("/f.txt") == b"two"
