"""What the WebDAV front-end serves back: user content never runs as script on the
gateway's origin, and no page or header names the software versions behind it."""

from __future__ import annotations

import base64
import http.client
import re

import pytest

from .conftest import PW, SecGateway

ACTIVE = {
    "evil.html": b"<html><script>fetch('/')</script></html>",
    "evil.htm": b"<script>alert(1)</script>",
    "evil.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "evil.xml": b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">'
                b"alert(1)</x:script>",
    "evil.xhtml": b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>',
    "evil.js": b"alert(1)",
    "evil.mjs": b"alert(1)",
}
VERSION = re.compile(rb"\d+\.\d+(\.\d+)?")
SOFTWARE = re.compile(rb"wsgidav|cheroot|cherrypy|python", re.IGNORECASE)


def head_and_body(out: str) -> tuple[dict[str, str], str, str]:
    """Split ``curl -i`` output: (lower-cased headers, status line, body)."""
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, lines[0], body


def get(gw: SecGateway, path: str, *args: str, login: str | None = "alice@acme"
        ) -> tuple[dict[str, str], str, str]:
    r = gw.curl("-i", *args, path, login=login)
    assert r.returncode == 0, r.stderr
    return head_and_body(r.stdout)


@pytest.fixture(scope="module")
def uploaded(secgw: SecGateway) -> SecGateway:
    conn = http.client.HTTPSConnection("127.0.0.1", secgw.webdav_port, timeout=30,
                                       context=secgw.tls_context())
    auth = {"Authorization": "Basic " + base64.b64encode(f"alice@acme:{PW}".encode()).decode()}
    conn.request("MKCOL", "/sec/", headers=auth)
    assert conn.getresponse().read() is not None
    for name, data in {**ACTIVE, "note.txt": b"plain text", "pic.png": b"PNG-ish"}.items():
        conn.request("PUT", "/sec/" + name, body=data, headers=auth)
        resp = conn.getresponse()
        resp.read()
        assert resp.status in (201, 204), (name, resp.status)
    conn.close()
    return secgw


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_active_content_is_served_as_an_inert_download(uploaded: SecGateway, name: str
                                                       ) -> None:
    for method in ([], ["-I"]):  # GET and HEAD
        headers, status, _ = get(uploaded, "/sec/" + name, *method)
        assert " 200" in status
        assert headers.get("x-content-type-options") == "nosniff"
        assert "sandbox" in headers.get("content-security-policy", "")
        assert "default-src 'none'" in headers.get("content-security-policy", "")
        assert headers.get("content-disposition", "").startswith("attachment"), headers


def test_passive_content_is_inline_but_sandboxed(uploaded: SecGateway) -> None:
    for name in ("note.txt", "pic.png"):
        headers, status, body = get(uploaded, "/sec/" + name)
        assert " 200" in status
        assert headers.get("x-content-type-options") == "nosniff"
        assert "sandbox" in headers.get("content-security-policy", "")
        assert "attachment" not in headers.get("content-disposition", "")
    assert body == "PNG-ish"  # the content itself is unchanged


def test_partial_content_carries_the_same_headers(uploaded: SecGateway) -> None:
    headers, status, body = get(uploaded, "/sec/evil.html", "-H", "Range: bytes=0-5")
    assert " 206" in status and body == "<html>"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("content-disposition", "").startswith("attachment")


def test_folder_listing_keeps_working(uploaded: SecGateway) -> None:
    headers, status, body = get(uploaded, "/sec/")
    assert " 200" in status and headers["content-type"].startswith("text/html")
    assert "evil.html" in body and "note.txt" in body
    assert "attachment" not in headers.get("content-disposition", "")
    assert headers.get("x-content-type-options") == "nosniff"
    csp = headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "script-src" not in csp
    # the listing links to the files by their escaped names, never as raw markup
    assert "<script>" not in body


def _assert_anonymous(headers: dict[str, str], body: str, what: str) -> None:
    server = headers.get("server", "").encode()
    assert not SOFTWARE.search(server) and not VERSION.search(server), (what, server)
    assert "x-powered-by" not in headers, what
    assert not SOFTWARE.search(body.encode()), (what, body[:500])


def test_no_software_or_version_in_pages_and_headers(uploaded: SecGateway) -> None:
    cases = {
        "listing": get(uploaded, "/sec/"),
        "404": get(uploaded, "/sec/no-such-file"),
        "401": get(uploaded, "/sec/", login=None),
        "bad password": uploaded_curl(uploaded, "/sec/", "alice@acme", "wrong"),
        "400 xml": get(uploaded, "/sec/", "-X", "PROPFIND", "-H", "Depth: 0",
                       "--data-binary", "<not-xml"),
        "405": get(uploaded, "/sec/note.txt", "-X", "MKCOL"),
        "options": get(uploaded, "/", "-X", "OPTIONS", login=None),
        "file": get(uploaded, "/sec/note.txt"),
    }
    for what, (headers, status, body) in cases.items():
        assert status.startswith("HTTP/"), what
        _assert_anonymous(headers, body, what)
    # the 404 page is still an error page
    assert " 404" in cases["404"][1]


def test_wsgidav_assets_are_not_served(uploaded: SecGateway) -> None:
    """wsgidav's own listing assets (script, template, logo) are not needed by our listing
    page and name the software: they are not reachable, with or without credentials."""
    for name in ("script.js", "template.html", "style.css", "logo.png"):
        for login in ("alice@acme", None):
            headers, status, body = get(uploaded, "/:dir_browser/" + name, login=login)
            assert " 200" not in status, (name, login, status)
            _assert_anonymous(headers, body, name)


def uploaded_curl(gw: SecGateway, path: str, login: str, password: str
                  ) -> tuple[dict[str, str], str, str]:
    r = gw.curl("-i", path, login=login, password=password)
    assert r.returncode == 0, r.stderr
    return head_and_body(r.stdout)
