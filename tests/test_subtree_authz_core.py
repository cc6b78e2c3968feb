"""Core rules of #9.1 / #9.4 / #9.18 (gateway.authz), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import unicodedata

import pytest
from sqlalchemy import event

from gateway import admin, authz, locks_admin
from gateway.catalog import locks as lock_store
from gateway.core import Core
from gateway.errors import HiddenPath, NotFound, PermissionDenied
from gateway.principal import PERMISSIONS, PermissionRule, Principal, parse_rules
from gateway.session import Session

ALL = list(PERMISSIONS)


def user(core: Core, name: str, *extra: tuple[str, list[str]]) -> Session:
    rules = [{"prefix": "/", "perms": ALL}, *({"prefix": p, "perms": v} for p, v in extra)]
    admin.create_user(core, "acme", name, permissions=json.dumps(rules))
    return core.session(admin.principal_for(core, "acme", name), "test", "::1")


@pytest.fixture
def tree(core: Core, session: Session) -> Session:
    session.mkdir("/dept/hr", parents=True)
    session.write_file("/dept/hr/pay.txt", b"pay")
    session.mkdir("/dept/pub")
    for i in range(30):
        session.write_file(f"/dept/pub/f{i}.txt", b"x")
    return session


def test_a_rule_inside_refuses_the_whole_delete_and_nothing_is_removed(
        core: Core, tree: Session) -> None:
    carol = user(core, "carol", ("/dept/hr", ["list", "read"]))
    with pytest.raises(PermissionDenied):
        carol.delete("/dept", recursive=True)
    assert tree.read_file("/dept/hr/pay.txt") == b"pay"
    assert len(list(tree.list("/dept/pub"))) == 30
    carol.delete("/dept/pub", recursive=True)  # nothing protected below it


def test_a_rule_on_a_path_that_does_not_exist_refuses_nothing(
        core: Core, tree: Session) -> None:
    """Exact, not merely safe: no node under the rule, no refusal."""
    erin = user(core, "erin", ("/dept/legal", []))
    erin.copy("/dept", "/copy")
    erin.move("/copy", "/moved")
    assert erin.delete("/moved", recursive=True) == 34  # 3 folders + 31 files


def test_the_check_costs_one_lookup_per_rule_not_per_node(core: Core, tree: Session) -> None:
    """Deleting a folder of 30 files with one refusing rule inside: the authorisation adds
    a handful of statements however many files there are."""
    gus = user(core, "gus", ("/dept/pub/none", []))
    principal = gus.principal
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with core.catalog.read() as conn:
        node = gus._resolve(conn, ["dept"])
        event.listen(core.catalog.engine, "before_cursor_execute", count)
        try:
            assert authz.subtree_refusal(conn, principal, "delete", "/dept", node) is None
        finally:
            event.remove(core.catalog.engine, "before_cursor_execute", count)
    assert len(statements) <= 2  # /dept/pub (found), /dept/pub/none (missing)


def test_copy_target_rules_are_checked_against_what_would_be_written(
        core: Core, tree: Session) -> None:
    dave = user(core, "dave", ("/archive/hr", ["list", "read"]))
    tree.mkdir("/archive")
    with pytest.raises(PermissionDenied):
        dave.copy("/dept", "/archive", overwrite=True)
    with pytest.raises(PermissionDenied):
        dave.move("/dept", "/archive", overwrite=True)
    assert tree.stat_quiet("/archive").is_dir
    with pytest.raises(NotFound):
        tree.stat_quiet("/archive/hr")
    dave.copy("/dept/pub", "/archive", overwrite=True)  # writes no /archive/hr


def test_unicode_spellings_meet_the_same_rule() -> None:
    nfd = unicodedata.normalize("NFD", "/\u0390")
    (rule,) = parse_rules([{"prefix": nfd, "perms": []}])
    assert rule.prefix == "/\u0390"  # stored canonical
    p = Principal("t", "acme", "u", "erin",
                  rules=(PermissionRule("/", frozenset(ALL)), PermissionRule(nfd, frozenset())))
    for spelling in ("/\u0390/x", "/\u03aa\u0301/x", "/\u03b9\u0308\u0301/x", "/\u03ca\u0301/X"):
        assert not p.allowed("read", spelling), ascii(spelling)
    assert p.allowed("read", "/\u03b9/x")  # plain iota is another name


def test_hidden_and_visible_refusals(core: Core, tree: Session) -> None:
    carol = user(core, "carol", ("/dept/hr", []), ("/dept/hr/open", ["list", "read"]))
    frank = core.session(Principal(tree.tenant_id, "acme", "f", "frank",
                                   rules=(PermissionRule("/", frozenset({"list", "read"})),)),
                         "test", "::1")
    for path in ("/dept/hr/pay.txt", "/dept/hr/absent.txt"):
        with pytest.raises(HiddenPath):
            carol.read_file(path)
        with pytest.raises(HiddenPath):
            carol.write_file(path, b"x")
    with pytest.raises(PermissionDenied) as refused:
        frank.write_file("/dept/pub/f1.txt", b"x")
    assert not isinstance(refused.value, HiddenPath)
    # /dept/hr shows only as the way to /dept/hr/open; without that rule it is hidden
    assert "hr" in [e.name for e in carol.list("/dept")]
    hal = user(core, "hal", ("/dept/hr", []))
    assert [e.name for e in hal.list("/dept")] == ["pub"]
    tree.mkdir("/dept/hr/open")
    tree.mkdir("/dept/hr/closed")
    assert [e.name for e in carol.list("/dept/hr")] == ["open"]


def test_locks_admin_lists_and_breaks(core: Core, tree: Session) -> None:
    with core.catalog.write() as conn:
        lock_store.create(conn, tree.tenant_id, "tok-1", {
            "root": "/", "depth": "infinity", "scope": "exclusive", "owner": b"x",
            "principal": "alice@acme", "timeout": None})
    (info,) = locks_admin.list_locks(core, "acme")
    assert info.path == "/" and info.depth == "infinity" and info.principal == "alice@acme"
    assert locks_admin.break_lock(core, "tok-1").token == "tok-1"
    assert locks_admin.list_locks(core) == []
    with pytest.raises(NotFound):
        locks_admin.break_lock(core, "tok-1")
    with pytest.raises(NotFound):
        locks_admin.list_locks(core, "nope")
