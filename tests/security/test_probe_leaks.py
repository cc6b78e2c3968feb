"""#9.18: a path the user may not see answers exactly like a missing one, and both are
audited (the refusal as ``denied``, the miss as ``miss``).

carol may do everything except anything on ``/dept/hr`` (which holds ``salaries.txt``);
frank may only list and read (he sees everything, so his refused writes stay 403).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from .authz_cast import PW, authz_cast
from .conftest import SecGateway, started_gateway

HIDDEN = "/dept/hr/salaries.txt"
MISSING = "/dept/hr/no-such-file.txt"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecGateway]:
    with started_gateway(tmp_path_factory.mktemp("probe"), authz_cast) as g:
        yield g


def dav(gw: SecGateway, method: str, path: str, login: str = "carol@acme",
        *headers: str, data: str | None = None) -> tuple[int, str]:
    head = method == "HEAD"  # curl waits for a body after -X HEAD
    args = ["-I"] if head else ["-X", method]
    args += ["-o", "-", "-w", "\n%{http_code}"]
    for h in headers:
        args += ["-H", h]
    if data is not None:
        args += ["--data-binary", data]
    r = gw.curl(*args, path, login=login, password=PW)
    assert r.returncode == 0, r.stderr
    body, _, status = r.stdout.rpartition("\n")
    if head:
        body = ""  # headers only (with a Date)
    body = re.sub(r"\d{4}-\d\d-\d\d [\d:.]+", "", body)  # the page's clock
    return int(status), body.replace(path, "<the path>")


REQUESTS = [
    ("GET", "", (), None),
    ("HEAD", "", (), None),
    ("PROPFIND", "", ("Depth: 0",), None),
    ("PUT", "", (), "x"),
    ("DELETE", "", (), None),
    ("PROPPATCH", "", ("Content-Type: application/xml",),
     '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>'
     '<Z:a>1</Z:a></D:prop></D:set></D:propertyupdate>'),
    ("LOCK", "", ("Content-Type: application/xml", "Timeout: Second-60"),
     '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
     '</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'),
    ("MKCOL", "", (), None),
    ("COPY", "dest", (), None),
    ("MOVE", "dest", (), None),
]


@pytest.mark.parametrize(("method", "dest", "headers", "data"), REQUESTS,
                         ids=[r[0] for r in REQUESTS])
def test_webdav_hidden_and_missing_paths_answer_alike(gw: SecGateway, method: str, dest: str,
                                                      headers: tuple[str, ...],
                                                      data: str | None) -> None:
    extra = (f"Destination: {gw.url}/copy-{method}",) if dest else ()
    hidden = dav(gw, method, HIDDEN, "carol@acme", *headers, *extra, data=data)
    missing = dav(gw, method, MISSING, "carol@acme", *headers, *extra, data=data)
    assert hidden == missing
    assert hidden[0] == 404


def test_webdav_hidden_folder_and_missing_folder_answer_alike(gw: SecGateway) -> None:
    for method, headers in (("PROPFIND", ("Depth: 1",)), ("MKCOL", ()), ("GET", ())):
        hidden = dav(gw, method, "/dept/hr", "carol@acme", *headers)
        missing = dav(gw, method, "/dept/hr/none", "carol@acme", *headers)
        assert hidden == missing and hidden[0] == 404, method
    # a PUT below the hidden folder, and below a missing folder inside it
    assert dav(gw, "PUT", "/dept/hr/new.txt", data="x")[0] == 404
    assert dav(gw, "PUT", "/dept/hr/nope/new.txt", data="x")[0] == 404


def test_webdav_listing_does_not_show_the_hidden_folder(gw: SecGateway) -> None:
    status, body = dav(gw, "PROPFIND", "/dept", "carol@acme", "Depth: 1")
    assert status == 207
    assert "/pub/</D:href>" in body and "/hr/</D:href>" not in body
    status, body = dav(gw, "PROPFIND", "/dept", "alice@acme", "Depth: 1")
    assert "/hr/</D:href>" in body


def test_webdav_destination_inside_a_hidden_folder_answers_like_missing(gw: SecGateway) -> None:
    src = "/dept/pub/a.txt"
    for dest in ("/dept/hr/salaries.txt", "/dept/hr/absent.txt"):
        status, _ = dav(gw, "COPY", src, "carol@acme", f"Destination: {gw.url}{dest}",
                        "Overwrite: F")
        assert status == 404, dest


def test_visible_but_forbidden_stays_403(gw: SecGateway) -> None:
    assert dav(gw, "PUT", "/dept/pub/a.txt", "frank@acme", data="x")[0] == 403
    assert dav(gw, "PUT", "/dept/pub/new.txt", "frank@acme", data="x")[0] == 403
    assert dav(gw, "DELETE", "/dept/pub/a.txt", "frank@acme")[0] == 403


def test_webdav_probes_are_audited(gw: SecGateway) -> None:
    dav(gw, "GET", "/probe-missing.txt")
    dav(gw, "GET", "/dept/hr/salaries.txt")
    assert gw.wait_audit(action="read", user="carol", path="/probe-missing.txt",
                         result="miss")
    assert gw.wait_audit(action="read", user="carol", path="/dept/hr/salaries.txt",
                         result="denied")
    dav(gw, "PROPFIND", "/probe-missing-dir", "carol@acme", "Depth: 1")
    assert gw.wait_audit(user="carol", path="/probe-missing-dir", result="miss")


def test_sftp_hidden_paths_answer_no_such_file(gw: SecGateway) -> None:
    client, sftp = gw.paramiko_sftp("carol@acme", PW)
    try:
        for path in (HIDDEN, MISSING, "/dept/hr"):
            with pytest.raises(FileNotFoundError):
                sftp.stat(path)
        for path in (HIDDEN, MISSING, "/dept/pub/missing.txt"):
            with pytest.raises(FileNotFoundError):
                sftp.open(path).read()
        for path in (HIDDEN, MISSING):
            with pytest.raises(FileNotFoundError):
                sftp.open(path, "w").write(b"x")
            with pytest.raises(FileNotFoundError):
                sftp.remove(path)
        # remove of a hidden folder / rmdir of a hidden file: not "is a directory" etc.
        for path in ("/dept/hr", "/dept/hr-missing"):
            with pytest.raises(FileNotFoundError):
                sftp.remove(path)
        for path in (HIDDEN, "/dept/hr", MISSING):
            with pytest.raises(FileNotFoundError):
                sftp.rmdir(path)
        with pytest.raises(FileNotFoundError):
            sftp.listdir("/dept/hr")
        assert "hr" not in sftp.listdir("/dept")
    finally:
        client.close()
    assert gw.wait_audit(protocol="sftp", user="carol", path="/dept/pub/missing.txt",
                         result="miss")
    assert gw.wait_audit(protocol="sftp", user="carol", path=HIDDEN, result="denied")


def test_sftp_write_open_keeping_the_content_is_refused_and_audited_by_the_core(
        gw: SecGateway) -> None:
    """An open for writing that keeps the content ("r+", append) opens no core writer yet:
    the core still refuses it at once, as a write: a hidden file as missing, a visible one
    as permission denied, both audited as denied writes. The mode bits shown come from the
    core's permission query too."""
    client, sftp = gw.paramiko_sftp("frank@acme", PW)
    try:
        assert sftp.stat("/dept/pub/a.txt").st_mode & 0o777 == 0o444
        for mode in ("r+", "a"):
            with pytest.raises(PermissionError):
                sftp.open("/dept/pub/a.txt", mode)
    finally:
        client.close()
    client, sftp = gw.paramiko_sftp("carol@acme", PW)
    try:
        assert sftp.stat("/dept/pub/a.txt").st_mode & 0o777 == 0o644
        for path in (HIDDEN, "/dept/hr/new.txt"):
            with pytest.raises(FileNotFoundError):
                sftp.open(path, "a")
        with pytest.raises(FileNotFoundError):
            sftp.open(HIDDEN, "r+")
    finally:
        client.close()
    assert gw.wait_audit(protocol="sftp", action="write", user="frank",
                         path="/dept/pub/a.txt", result="denied")
    assert gw.wait_audit(protocol="sftp", action="write", user="carol", path=HIDDEN,
                         result="denied")
