"""Protocol behaviour through a Python client against the running gateway: auth mapping,
conditional requests, locks, properties, quota, listing, audit and encryption at rest."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import time
import warnings
from email.utils import formatdate

import pytest
from conftest import Gateway
from davclient import DavClient

PROPFIND_QUOTA = (b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
                  b'<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>')


def audit_events(gw: Gateway) -> list[dict]:
    time.sleep(0.3)  # reads and logins are written by a batching thread
    return [json.loads(line) for line in gw.audit_log.read_text().splitlines() if line]


def test_anonymous_options_for_windows(gateway: Gateway) -> None:
    c = gateway.client()
    r = c.request("OPTIONS", "/", auth=False)
    assert r.status == 200
    assert "2" in r.header("DAV")
    assert r.header("MS-Author-Via") == "DAV"
    assert "LOCK" in r.header("Allow")


def test_wrong_password_is_401_and_audited(gateway: Gateway) -> None:
    r = gateway.client("alice@acme", "not-the-password").request("PROPFIND", "/",
                                                                 headers={"Depth": "0"})
    assert r.status == 401
    assert "Basic" in r.header("WWW-Authenticate")
    assert b"not-the-password" not in r.body
    denied = [e for e in audit_events(gateway) if e["action"] == "login"
              and e["user"] == "alice" and e["result"] == "denied"]
    assert denied and "not-the-password" not in json.dumps(denied)


def test_tenant_without_webdav_is_403_even_with_right_password(gateway: Gateway) -> None:
    r = gateway.client("bob@nodav").request("PROPFIND", "/", headers={"Depth": "0"})
    assert r.status == 403
    assert any(e["action"] == "login" and e["tenant"] == "nodav" and e["result"] == "denied"
               for e in audit_events(gateway))


def test_tls_below_1_2_refused(gateway: Gateway) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", gateway.port)) as raw, \
            pytest.raises((ssl.SSLError, ConnectionResetError)):
        ctx.wrap_socket(raw).do_handshake()


def test_put_get_head_etag_and_conditionals(alice: DavClient, folder: str) -> None:
    path = f"{folder}/doc.txt"
    assert alice.put(path, b"version one").status == 201
    r = alice.get(path)
    assert r.status == 200 and r.body == b"version one"
    etag = r.header("ETag")
    assert etag
    assert alice.request("HEAD", path).header("Content-Length") == "11"
    assert alice.get(path, {"If-None-Match": etag}).status == 304
    later = formatdate(time.time() + 60, usegmt=True)
    earlier = formatdate(time.time() - 3600, usegmt=True)
    assert alice.get(path, {"If-Modified-Since": later}).status == 304
    assert alice.get(path, {"If-Modified-Since": earlier}).status == 200
    # the date the server itself sent: not modified since then (RFC 9110 13.1.3)
    last_modified = r.header("Last-Modified")
    assert alice.get(path, {"If-Modified-Since": last_modified}).status == 304
    assert alice.put(path, b"version one",
                     {"If-Unmodified-Since": earlier}).status == 412
    assert alice.request("HEAD", path, None,
                         {"If-Unmodified-Since": last_modified}).status == 200
    assert alice.put(path, b"lost", {"If-Match": '"wrong-etag"'}).status == 412
    assert alice.put(path, b"lost", {"If-None-Match": "*"}).status == 412
    assert alice.put(path, b"version two", {"If-Match": etag}).status == 204
    assert alice.get(path).body == b"version two"


def test_range_requests(alice: DavClient, folder: str) -> None:
    data = os.urandom(300_000)
    alice.put(f"{folder}/r.bin", data)
    r = alice.get(f"{folder}/r.bin", {"Range": "bytes=70000-200000"})
    assert r.status == 206 and r.body == data[70000:200001]
    assert r.header("Content-Range") == "bytes 70000-200000/300000"
    assert alice.get(f"{folder}/r.bin", {"Range": "bytes=400000-"}).status == 416


def test_mkcol_delete_copy_move(alice: DavClient, folder: str) -> None:
    assert alice.request("MKCOL", f"{folder}/a").status == 201
    assert alice.request("MKCOL", f"{folder}/a").status == 405
    assert alice.request("MKCOL", f"{folder}/missing/b").status == 409
    alice.put(f"{folder}/a/f.txt", b"x")
    base = f"https://127.0.0.1:{alice.port}"
    r = alice.request("COPY", f"{folder}/a", headers={"Destination": base + f"{folder}/b"})
    assert r.status == 201
    r = alice.request("MOVE", f"{folder}/b/f.txt",
                      headers={"Destination": base + f"{folder}/a/f.txt", "Overwrite": "F"})
    assert r.status == 412
    r = alice.request("MOVE", f"{folder}/b/f.txt",
                      headers={"Destination": base + f"{folder}/a/f.txt", "Overwrite": "T"})
    assert r.status == 204
    assert alice.request("DELETE", f"{folder}/a").status == 204
    assert alice.get(f"{folder}/a/f.txt").status == 404


def test_propfind_infinity_refused(alice: DavClient) -> None:
    r = alice.request("PROPFIND", "/", headers={"Depth": "infinity"})
    assert r.status == 403 and b"propfind-finite-depth" in r.body


def test_read_only_user_gets_403(gateway: Gateway, alice: DavClient, folder: str) -> None:
    alice.put(f"{folder}/ro.txt", b"for carol")
    carol = gateway.client("carol@acme")
    assert carol.get(f"{folder}/ro.txt").body == b"for carol"
    assert carol.put(f"{folder}/ro.txt", b"nope").status == 403
    assert carol.request("DELETE", f"{folder}/ro.txt").status == 403
    assert carol.request("MKCOL", f"{folder}/sub").status == 403
    assert alice.get(f"{folder}/ro.txt").body == b"for carol"


def test_quota_properties_and_507(gateway: Gateway) -> None:
    dave = gateway.client("dave@acme")
    dave.request("DELETE", "/dave-q")
    dave.request("MKCOL", "/dave-q")
    assert dave.put("/dave-q/small.bin", b"a" * 1000).status == 201
    r = dave.request("PROPFIND", "/dave-q", PROPFIND_QUOTA, {"Depth": "0"})
    assert r.status == 207
    avail = int(re.search(rb"quota-available-bytes>(\d+)<", r.body).group(1))
    used = int(re.search(rb"quota-used-bytes>(\d+)<", r.body).group(1))
    assert used >= 1000 and avail == 256 * 1024 - used
    r = dave.put("/dave-q/big.bin", b"b" * (300 * 1024))
    assert r.status == 507
    assert dave.get("/dave-q/big.bin").status == 404


def test_dead_and_win32_properties(alice: DavClient, folder: str) -> None:
    path = f"{folder}/w.txt"
    alice.put(path, b"w")
    body = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
            b'xmlns:Z="urn:schemas-microsoft-com:" xmlns:X="http://example.com/x">'
            b'<D:set><D:prop>'
            b'<Z:Win32CreationTime>Mon, 02 Jan 2023 10:00:00 GMT</Z:Win32CreationTime>'
            b'<Z:Win32LastModifiedTime>Mon, 02 Jan 2023 10:00:00 GMT</Z:Win32LastModifiedTime>'
            b'<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>'
            b'<X:color>blue</X:color></D:prop></D:set></D:propertyupdate>')
    r = alice.request("PROPPATCH", path, body, {"Content-Type": "application/xml"})
    assert r.status == 207 and b"200 OK" in r.body and b"403" not in r.body
    r = alice.request("PROPFIND", path, headers={"Depth": "0"})
    assert b"blue" in r.body
    assert b"Mon, 02 Jan 2023 10:00:00 GMT" in r.body  # getlastmodified follows Win32 time
    # properties follow a move
    base = f"https://127.0.0.1:{alice.port}"
    alice.request("MOVE", path, headers={"Destination": base + f"{folder}/w2.txt"})
    assert b"blue" in alice.request("PROPFIND", f"{folder}/w2.txt",
                                    headers={"Depth": "0"}).body


def test_browser_listing(gateway: Gateway, alice: DavClient, folder: str) -> None:
    alice.put(f"{folder}/Résumé final.txt", b"cv")
    r = alice.get(folder + "/", {"Accept": "text/html"})
    assert r.status == 200 and b"<html" in r.body.lower()
    assert "Résumé final.txt".encode() in r.body or b"R%C3%A9sum%C3%A9" in r.body
    assert gateway.client("alice@acme", "bad").get(folder + "/").status == 401
    assert gateway.client("carol@acme").get(folder + "/").status == 200


def test_every_file_request_audited_once_with_bytes(gateway: Gateway, alice: DavClient,
                                                   folder: str) -> None:
    path = f"{folder}/audited.bin"
    alice.put(path, b"z" * 5000)
    alice.get(path)
    alice.request("PROPFIND", folder, headers={"Depth": "1"})
    events = [e for e in audit_events(gateway) if e.get("path") == path]
    writes = [e for e in events if e["action"] == "write"]
    reads = [e for e in events if e["action"] == "read"]
    assert len(writes) == 1 and writes[0]["bytes"] == 5000 and writes[0]["result"] == "ok"
    assert len(reads) == 1 and reads[0]["bytes"] == 5000
    assert any(e["action"] == "list" and e["path"] == folder for e in audit_events(gateway))


def test_blob_store_holds_only_ciphertext(gateway: Gateway, alice: DavClient,
                                          folder: str) -> None:
    marker = b"LUMANOX-PLAINTEXT-MARKER-" + os.urandom(6).hex().encode()
    assert alice.put(f"{folder}/secret.txt", marker * 2000).status == 201
    assert alice.get(f"{folder}/secret.txt").body == marker * 2000
    found = []
    for dirpath, _dirs, files in os.walk(gateway.data_dir):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                if marker in f.read():
                    found.append(name)
    assert found == []


def test_streamed_propfind_matches_the_general_handler(alice: DavClient, folder: str) -> None:
    """The streaming PROPFIND (allprop / live props) and wsgidav's handler (named dead
    properties, locked resources) report the same facts."""
    alice.put(f"{folder}/a.txt", b"12345")
    alice.request("MKCOL", f"{folder}/sub")
    body = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
            b'xmlns:X="http://example.com/x"><D:set><D:prop><X:tag>green &amp; red</X:tag>'
            b'</D:prop></D:set></D:propertyupdate>')
    assert alice.request("PROPPATCH", f"{folder}/a.txt", body).status == 207
    allprop = alice.request("PROPFIND", folder, headers={"Depth": "1"})
    assert allprop.status == 207
    assert allprop.body.count(b"<D:response>") == 3
    assert b"green &amp; red" in allprop.body
    assert b"<D:getcontentlength>5</D:getcontentlength>" in allprop.body
    named = alice.request("PROPFIND", folder, (
        b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/>'
        b'<D:resourcetype/></D:prop></D:propfind>'), {"Depth": "1"})
    assert named.status == 207
    assert named.body.count(b"404 Not Found") == 2  # the two folders have no length
    dead = alice.request("PROPFIND", f"{folder}/a.txt", (
        b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="http://example.com/x">'
        b'<D:prop><X:tag/></D:prop></D:propfind>'), {"Depth": "0"})
    assert dead.status == 207 and b"green &amp; red" in dead.body
    token = alice.lock(f"{folder}/a.txt").header("Lock-Token").strip("<>")
    locked = alice.request("PROPFIND", folder, headers={"Depth": "1"})
    assert token.encode() in locked.body
    assert alice.request("PROPFIND", folder, b"<not-xml", {"Depth": "1"}).status == 400


def test_delete_of_a_tree_is_one_audited_operation(gateway: Gateway, alice: DavClient,
                                                   folder: str) -> None:
    alice.request("MKCOL", f"{folder}/tree")
    alice.request("MKCOL", f"{folder}/tree/a")
    alice.put(f"{folder}/tree/a/f.txt", b"f")
    assert alice.request("DELETE", f"{folder}/tree").status == 204
    events = [e for e in audit_events(gateway) if (e.get("path") or "").startswith(
        f"{folder}/tree")]
    assert [e["action"] for e in events if e["action"] in ("delete", "list")] == ["delete"]
    assert events[-1]["result"] == "ok"


@pytest.mark.parametrize("header", ["Basic !!!not-base64", "Basic bm9jb2xvbg==",
                                    "Basic YWz/aWNlOng=", "Bearer abc"])
def test_malformed_credentials_are_401(gateway: Gateway, header: str) -> None:
    c = gateway.client()
    r = c.request("PROPFIND", "/", headers={"Depth": "0", "Authorization": header}, auth=False)
    assert r.status == 401
