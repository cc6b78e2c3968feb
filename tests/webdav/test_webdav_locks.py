"""LOCK/UNLOCK and conditional PUT with a Python client; two gateway processes sharing one
catalog see the same locks, and concurrent LOCKs through both grant exactly one."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from conftest import Gateway, free_port, start_gateway, write_config
from davclient import DavClient


def token_of(r) -> str:  # type: ignore[no-untyped-def]
    header = r.header("Lock-Token")
    assert header, (r.status, r.body[:300])
    return header.strip("<>")


def test_exclusive_lock_blocks_others_until_unlock(alice: DavClient, folder: str) -> None:
    path = f"{folder}/locked.txt"
    alice.put(path, b"v1")
    r = alice.lock(path)
    assert r.status == 200 and b"lockdiscovery" in r.body
    token = token_of(r)
    assert alice.put(path, b"no token").status == 423
    assert alice.request("DELETE", path).status == 423
    assert alice.lock(path).status == 423
    assert alice.put(path, b"v2", {"If": f"(<{token}>)"}).status == 204
    # refresh
    r = alice.request("LOCK", path, headers={"If": f"(<{token}>)", "Timeout": "Second-120"})
    assert r.status == 200 and b"Second-1" in r.body
    assert alice.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status == 204
    assert alice.put(path, b"v3").status == 204
    assert alice.get(path).body == b"v3"


def test_shared_locks_and_lock_null(alice: DavClient, folder: str) -> None:
    path = f"{folder}/shared.txt"
    alice.put(path, b"s")
    t1 = token_of(alice.lock(path, scope="shared"))
    t2 = token_of(alice.lock(path, scope="shared"))
    assert t1 != t2
    assert alice.lock(path, scope="exclusive").status == 423
    r = alice.request("PROPFIND", path, headers={"Depth": "0"})
    assert r.body.count(b"opaquelocktoken:") == 2
    # LOCK on an unmapped URL creates a locked empty resource
    newp = f"{folder}/lock-null.txt"
    r = alice.lock(newp)
    assert r.status == 201
    tn = token_of(r)
    assert alice.get(newp).body == b""
    assert alice.put(newp, b"filled", {"If": f"(<{tn}>)"}).status == 204


def test_depth_infinity_lock_on_folder_protects_members(alice: DavClient, folder: str) -> None:
    alice.request("MKCOL", f"{folder}/tree")
    token = token_of(alice.lock(f"{folder}/tree", depth="infinity"))
    assert alice.put(f"{folder}/tree/inside.txt", b"x").status == 423
    assert alice.put(f"{folder}/tree/inside.txt", b"x",
                     {"If": f"(<{token}>)"}).status == 201


def test_lock_expires(alice: DavClient, folder: str) -> None:
    path = f"{folder}/short.txt"
    alice.put(path, b"x")
    assert alice.lock(path, timeout="Second-1").status == 200
    assert alice.put(path, b"y").status == 423
    import time

    time.sleep(2.2)
    assert alice.put(path, b"y").status == 204


def test_conditional_put_with_etag(alice: DavClient, folder: str) -> None:
    path = f"{folder}/cond.txt"
    assert alice.put(path, b"a", {"If-None-Match": "*"}).status == 201
    assert alice.put(path, b"b", {"If-None-Match": "*"}).status == 412
    etag = alice.get(path).header("ETag")
    assert alice.put(path, b"c", {"If-Match": etag}).status == 204
    assert alice.put(path, b"d", {"If-Match": etag}).status == 412  # etag changed
    assert alice.get(path).body == b"c"


@pytest.fixture(scope="module")
def second_gateway(gateway: Gateway) -> Iterator[Gateway]:
    """Another gateway process on the SAME catalog and blob store, on another port."""
    cfg = write_config(gateway.base, free_port(), name="gateway-b.toml", workers=1)
    gw = start_gateway(cfg)
    try:
        yield gw
    finally:
        gw.stop()


def test_lock_in_one_process_blocks_write_in_another(gateway: Gateway,
                                                     second_gateway: Gateway,
                                                     folder: str) -> None:
    a, b = gateway.client(), second_gateway.client()
    path = f"{folder}/cross.txt"
    assert a.put(path, b"from A").status == 201
    token = token_of(a.lock(path))
    assert b.put(path, b"from B").status == 423
    assert b.request("MOVE", path, headers={
        "Destination": f"{second_gateway.url}{folder}/moved.txt"}).status == 423
    assert b.put(path, b"from B", {"If": f"(<{token}>)"}).status == 204  # same user + token
    assert b.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status == 204
    assert a.put(path, b"A again").status == 204


def test_concurrent_locks_across_processes_grant_exactly_one(gateway: Gateway,
                                                             second_gateway: Gateway,
                                                             folder: str) -> None:
    path = f"{folder}/race.txt"
    gateway.client().put(path, b"r")
    results: list[int] = []
    start = threading.Barrier(8)

    def contender(gw: Gateway) -> None:
        c = gw.client()
        c.request("OPTIONS", "/", auth=False)  # connect first
        start.wait()
        results.append(c.lock(path).status)

    threads = [threading.Thread(target=contender, args=(g,))
               for g in [gateway, second_gateway] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [200] + [423] * 7, results
    r = gateway.client().request("PROPFIND", path, headers={"Depth": "0"})
    assert len(re.findall(rb"opaquelocktoken:[0-9a-fx]+", r.body)) == 1


def test_lock_needs_write_permission_and_is_audited(gateway: Gateway, alice: DavClient,
                                                    folder: str) -> None:
    import json
    import time

    path = f"{folder}/audited-lock.txt"
    alice.put(path, b"x")
    assert gateway.client("carol@acme").lock(path).status == 403
    token = token_of(alice.lock(path))
    assert alice.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status == 204
    time.sleep(0.3)
    events = [json.loads(line) for line in gateway.audit_log.read_text().splitlines()]
    mine = [(e["action"], e["user"], e["result"]) for e in events if e.get("path") == path]
    assert ("lock", "carol", "denied") in mine
    assert ("lock", "alice", "ok") in mine and ("unlock", "alice", "ok") in mine


def test_lock_taken_during_an_upload_refuses_its_commit(gateway: Gateway,
                                                        second_gateway: Gateway,
                                                        folder: str) -> None:
    """A PUT checks locks when it starts; a lock another process grants while the body is
    still arriving must stop the commit too (423, previous version kept)."""
    a, b = gateway.client(), second_gateway.client()
    path = f"{folder}/slow.txt"
    assert a.put(path, b"previous version").status == 201
    body = b"x" * 2_000_000
    conn = a._connection()
    conn.putrequest("PUT", a.url(path))
    conn.putheader("Authorization", a.auth)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[:1_000_000])  # the upload is under way...
    token = token_of(b.lock(path))  # ...when the other process grants a lock
    conn.send(body[1_000_000:])
    resp = conn.getresponse()
    resp.read()
    a.close()
    assert resp.status == 423
    assert b.get(path).body == b"previous version"
    assert b.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status == 204
