"""One look-up per request: a WebDAV PUT of a small file runs one read and one write
transaction, a GET one read transaction (plus its batched audit write), every statement
on the driver's cursor, counted through the catalog's trace hook on the real WSGI app
over a real catalog (SQLite and PostgreSQL); and the look-up's facts never outlive a
change (gateway/session/lookahead.py).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from gateway import admin
from gateway.access import Access
from gateway.catalog import db
from gateway.config import Config
from gateway.core import Core
from gateway.errors import AlreadyExists, NotFound
from gateway.policy import defender
from gateway.session import lookahead
from gateway.webdav.app import build_app

PAYLOAD = b"p" * 4096
PASSWORD = "alice-secret-pw-1"


@pytest.fixture
def traced(config: Config, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Core, list[str]]]:
    """A core whose catalog reports every transaction and statement into a list. The
    defender's snapshot of every ban (one read per second per process, shared by all
    requests: tests/cluster) is taken once by the warm-up requests, not counted per request."""
    seen: list[str] = []
    monkeypatch.setattr(db, "trace", seen.append)  # before the engine: statements too
    monkeypatch.setattr(defender, "BAN_SNAPSHOT_S", 3600.0)
    core = Core.open(config)
    try:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "alice", password=PASSWORD)
        yield core, seen
    finally:
        core.close()


def _call(app: Any, method: str, path: str, body: bytes = b"",
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    auth = base64.b64encode(f"alice@acme:{PASSWORD}".encode()).decode()
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, REMOTE_ADDR="127.0.0.1",
                   CONTENT_LENGTH=str(len(body)), HTTP_AUTHORIZATION=f"Basic {auth}")
    environ["wsgi.input"] = io.BytesIO(body)
    environ.update(headers or {})
    answer: dict[str, Any] = {}

    def start_response(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer["status"], answer["headers"] = int(status.split()[0]), dict(hdrs)
        return lambda _data: None

    result = app(environ, start_response)
    try:
        out = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return answer["status"], answer["headers"], out


def _transactions(seen: list[str]) -> list[list[str]]:
    """The trace as transactions (kind line first), audit-only ones left out."""
    txs: list[list[str]] = []
    for line in seen:
        if line.startswith("tx "):
            txs.append([line])
        elif txs and line.startswith(("sql ", "raw ")):
            txs[-1].append(line)
    return [tx for tx in txs if not all("audit_" in s for s in tx[1:]) or len(tx) == 1]


def _counted(core: Core, seen: list[str], request: Any) -> tuple[Any, list[list[str]], int]:
    """Run ``request`` (after a flush of earlier audit events) and return its result, its
    transactions other than the audit's, and its statements (the audit's included)."""
    core.audit.flush()
    seen.clear()
    result = request()
    core.audit.flush()
    statements = sum(1 for line in seen if line.startswith(("sql ", "raw ")))
    return result, _transactions(seen), statements


def test_put_takes_one_read_and_one_write_transaction_get_one_read(
        traced: tuple[Core, list[str]]) -> None:
    core, seen = traced
    app = build_app(Access(core))
    assert _call(app, "MKCOL", "/docs")[0] == 201
    assert _call(app, "PUT", "/warm.bin", PAYLOAD)[0] == 201  # login, root id, keys
    assert _call(app, "GET", "/warm.bin")[0] == 200  # the cached login's ban snapshot

    # statements: read tx: folder(s), the file, locks, usage; write tx: the same look-ups
    # again, locks again, usage updates, blob row, node row (+ the folder's), 3 audit
    # (a same-size replacement changes no usage; it reads the legal holds: +1)
    for path, status, limit in (("/new.bin", 201, 14), ("/new.bin", 204, 13),
                                ("/docs/a.bin", 201, 15), ("/docs/a.bin", 204, 14)):
        (code, headers, _), txs, statements = _counted(
            core, seen, lambda p=path: _call(app, "PUT", p, PAYLOAD))
        assert code == status
        assert [tx[0] for tx in txs] == ["tx read", "tx write"], txs
        tenant_row_lock = 0 if core.catalog.is_sqlite else 1  # PostgreSQL: FOR UPDATE
        assert statements <= limit + tenant_row_lock, "\n".join(s[-90:] for s in seen)
        assert not [s for s in seen if s.startswith("sql ")]  # all on the driver's cursor
        stored = core.session(admin.principal_for(core, "acme", "alice"), "test",
                              "127.0.0.1").stat_quiet(path)
        assert headers["ETag"] == f'"{stored.etag}"'  # the commit's entry, not a new stat

    for path, limit in (("/new.bin", 5), ("/docs/a.bin", 6)):  # node(s), blob key, audit 3
        (code, headers, body), txs, statements = _counted(
            core, seen, lambda p=path: _call(app, "GET", p))
        assert (code, body) == (200, PAYLOAD)
        assert [tx[0] for tx in txs] == ["tx read"], txs
        assert statements <= limit, seen
        assert not [s for s in seen if s.startswith("sql ")]
        assert _call(app, "GET", path, headers={"HTTP_IF_NONE_MATCH": headers["ETag"]}
                     )[0] == 304


def test_head_takes_one_read_transaction(traced: tuple[Core, list[str]]) -> None:
    """The audited stat of a HEAD uses the provider's look-up."""
    core, seen = traced
    app = build_app(Access(core))
    assert _call(app, "PUT", "/f.bin", PAYLOAD)[0] == 201
    assert _call(app, "GET", "/f.bin")[0] == 200  # the cached login's ban snapshot
    (code, headers, _), txs, _ = _counted(core, seen, lambda: _call(app, "HEAD", "/f.bin"))
    assert (code, headers["Content-Length"]) == (200, str(len(PAYLOAD)))
    assert [tx[0] for tx in txs] == ["tx read"], txs


def test_prepared_lookup_never_outlives_a_change(core: Core, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    """Facts read for the next call are served only briefly and never after a change of
    the session itself; another session's change in between is caught by the commit."""
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice")
    principal = admin.principal_for(core, "acme", "alice")
    mine, other = (core.session(principal, "webdav", "127.0.0.1") for _ in range(2))

    with pytest.raises(NotFound):
        mine.stat_quiet("/f.txt", prepare="write")
    other.write_file("/f.txt", b"theirs")
    writer = mine.open_write("/f.txt", exclusive=True)  # the early check saw no file
    writer.write(b"mine")
    with pytest.raises(AlreadyExists):  # the commit does
        writer.close()
    assert other.read_file("/f.txt") == b"theirs"

    mine.stat_quiet("/f.txt", prepare="read")
    mine.write_file("/f.txt", b"mine, later")  # the session's own change drops the facts
    assert mine.stat_quiet("/f.txt").size == len(b"mine, later")
    assert mine.read_file("/f.txt") == b"mine, later"

    monkeypatch.setattr(lookahead, "MAX_AGE_S", 0.0)
    mine.stat_quiet("/f.txt", prepare="read")
    other.write_file("/f.txt", b"theirs again")
    assert mine.stat_quiet("/f.txt").size == len(b"theirs again")  # too old: read afresh
    assert mine.read_file("/f.txt") == b"theirs again"
