"""PROPFIND without a Depth header (RFC 4918 9.1: it means infinity).

On a file every depth is depth 0, so a missing Depth must answer 207 (Python and
JavaScript WebDAV clients omit it when they stat a file); a missing path answers 404 (they
check that a path is gone); only a collection refuses infinity (403 propfind-finite-depth).
"""

from __future__ import annotations

from davclient import DavClient

ALLPROP = (b'<?xml version="1.0" encoding="utf-8"?>'
           b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')


def test_propfind_without_depth_on_a_file_is_depth_0(alice: DavClient, folder: str) -> None:
    assert alice.put(f"{folder}/f.txt", b"hello").status in (200, 201, 204)
    for body in (None, ALLPROP):
        r = alice.request("PROPFIND", f"{folder}/f.txt", body)
        assert r.status == 207, (r.status, r.body[:300])
        assert b"<D:getcontentlength>5</D:getcontentlength>" in r.body
        assert r.body.count(b"<D:response>") == 1


def test_propfind_depth_infinity_on_a_file_is_depth_0(alice: DavClient, folder: str) -> None:
    alice.put(f"{folder}/g.txt", b"abc")
    r = alice.request("PROPFIND", f"{folder}/g.txt", headers={"Depth": "infinity"})
    assert r.status == 207, (r.status, r.body[:300])
    assert r.body.count(b"<D:response>") == 1


def test_propfind_without_depth_on_a_missing_path_is_404(alice: DavClient, folder: str
                                                         ) -> None:
    for path in (f"{folder}/gone.txt", f"{folder}/no/such/dir/", "/no-such-top"):
        r = alice.request("PROPFIND", path)
        assert r.status == 404, (path, r.status, r.body[:300])


def test_propfind_without_depth_on_a_collection_is_refused(alice: DavClient, folder: str
                                                           ) -> None:
    for path in (folder, folder + "/", "/"):
        r = alice.request("PROPFIND", path)
        assert r.status == 403 and b"propfind-finite-depth" in r.body, (path, r.status)
    r = alice.request("PROPFIND", folder, headers={"Depth": "Infinity"})
    assert r.status == 403 and b"propfind-finite-depth" in r.body


def test_propfind_without_depth_needs_credentials(alice: DavClient, folder: str) -> None:
    alice.put(f"{folder}/h.txt", b"x")
    for path in (f"{folder}/h.txt", f"{folder}/gone.txt", folder):
        assert alice.request("PROPFIND", path, auth=False).status == 401
