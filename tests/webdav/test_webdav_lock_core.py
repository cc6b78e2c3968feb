"""WebDAV locks live in the core: a lock taken over WebDAV binds the other doors (the CLI
here; SFTP in tests/sftp/test_policy.py), a refused UNLOCK is refused and audited by the
core, tokens bind to the user who took the lock, and the core drops the locks of what a
change removed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cli_runner import clean_env, run_cli
from conftest import Gateway
from davclient import DavClient
from test_webdav_locks import token_of


def audit_has(gateway: Gateway, action: str, user: str, result: str, path: str,
              timeout: float = 10) -> bool:
    """Whether the audit log gets the event (the writer batches: wait a little)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in gateway.audit_log.read_text().splitlines():
            e = json.loads(line)
            if (e.get("action"), e.get("user"), e.get("result"), e.get("path")) == \
                    (action, user, result, path):
                return True
        time.sleep(0.1)
    return False


def cli(gateway: Gateway, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(*args, cwd=gateway.base,
                   env=clean_env(LUMANOX_CONFIG=str(gateway.config)))


def test_a_webdav_lock_refuses_cli_changes(gateway: Gateway, alice: DavClient, folder: str,
                                           tmp_path: Path) -> None:
    path = f"{folder}/report.odt"
    assert alice.put(path, b"version one").status == 201
    token = token_of(alice.lock(path))
    src = tmp_path / "new.odt"
    src.write_bytes(b"written from the command line")
    for args in (("put", "alice@acme", str(src), path), ("rm", "alice@acme", path),
                 ("mv", "alice@acme", path, f"{folder}/renamed.odt")):
        p = cli(gateway, "files", *args)
        assert p.returncode != 0 and "locked" in p.stderr.lower(), (args, p.stderr)
    assert audit_has(gateway, "write", "alice", "denied", path)
    assert alice.get(path).body == b"version one"
    assert alice.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status == 204
    assert cli(gateway, "files", "put", "alice@acme", str(src), path).returncode == 0


def test_unlocking_another_users_lock_is_refused_and_audited(gateway: Gateway,
                                                             alice: DavClient,
                                                             folder: str) -> None:
    path = f"{folder}/mine.txt"
    assert alice.put(path, b"x").status == 201
    token = token_of(alice.lock(path))
    carol = gateway.client("carol@acme")
    assert carol.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status == 403
    assert audit_has(gateway, "unlock", "carol", "denied", path)
    assert alice.put(path, b"still locked").status == 423
    assert alice.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status == 204
    assert audit_has(gateway, "unlock", "alice", "ok", path)


def test_the_holder_deletes_a_folder_with_its_locked_member(gateway: Gateway,
                                                            alice: DavClient,
                                                            folder: str) -> None:
    """RFC 4918 9.6.1: deleting a folder whose member is locked needs that member's token;
    with it, the DELETE succeeds and the core drops the lock in the same transaction."""
    tree, member = f"{folder}/tree", f"{folder}/tree/a.txt"
    assert alice.request("MKCOL", tree).status == 201
    assert alice.put(member, b"a").status == 201
    token = token_of(alice.lock(member))
    assert alice.request("DELETE", tree).status == 423
    tagged = {"If": f"<{alice.url(member)}> (<{token}>)"}
    assert alice.request("DELETE", tree, headers=tagged).status == 204
    assert alice.request("MKCOL", tree).status == 201
    assert alice.put(member, b"no lock left on the old URL").status == 201
