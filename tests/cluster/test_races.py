"""Decisions two nodes take at the same moment over one PostgreSQL catalog: session slots
and defender scores. Two ``Core``s (each with its own engine and pool, as two nodes have)
race from many threads against a real PostgreSQL database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway import admin
from gateway.core import Core
from gateway.policy.defender import Defender, address_key
from gateway.policy.gate import Gate
from gateway.policy.manage import set_tenant_policy
from gateway.policy.slots import TooManySessions, open_session
from tests.conftest import make_config


@pytest.fixture
def two_cores(tmp_path: Path, pg_url: str) -> Iterator[tuple[Core, Core]]:
    from tests.conftest import _truncate_all

    _truncate_all(pg_url)
    cfg_a = make_config(tmp_path, pg_url)
    cfg_b = make_config(tmp_path, pg_url)  # same key file, same catalog: a second node
    cfg_b.gateway.node_name = "nodeb"
    a, b = Core.open(cfg_a), Core.open(cfg_b)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def race(workers: list[Callable[[], object]]) -> list[object]:
    """Run the callables at once (released together); their results or exceptions."""
    barrier = threading.Barrier(len(workers))
    out: list[object] = [None] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = workers[i]()
        except Exception as exc:  # collected, judged by the test
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_tenant_session_limit_holds_under_simultaneous_logins_on_two_nodes(
        two_cores: tuple[Core, Core]) -> None:
    a, b = two_cores
    admin.create_tenant(a, "acme")
    admin.create_user(a, "acme", "alice", password="correct horse battery")
    set_tenant_policy(a, "acme", max_sessions=3)
    principal = admin.principal_for(a, "acme", "alice")
    gates = [Gate(a), Gate(b)]
    for _ in range(5):  # a race may go right by luck: several rounds
        results = race([lambda g=gates[i % 2]: open_session(g, principal, "sftp", "10.0.0.1")
                        for i in range(12)])
        admitted = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, TooManySessions)]
        assert len(admitted) == 3, results
        assert len(refused) == 9, results
        for ticket in admitted:
            ticket.close()  # type: ignore[attr-defined]


def test_first_failures_of_an_address_on_two_nodes_at_once_all_count(
        two_cores: tuple[Core, Core]) -> None:
    a, b = two_cores
    defenders = [Defender(a), Defender(b)]
    for round_ in range(5):
        addr = f"192.0.2.{round_ + 1}"
        results = race([lambda d=defenders[i % 2], addr=addr:
                        d.failure(addr, "acme", "x", account=False) for i in range(8)])
        assert not [r for r in results if isinstance(r, Exception)], results
        entry = next(e for e in defenders[0].list() if e.key == address_key(addr))
        assert round(entry.score) == 8


def test_a_node_with_its_own_app_password_secret_is_refused(two_cores: tuple[Core, Core],
                                                            tmp_path: Path) -> None:
    from gateway.errors import ConfigError
    from gateway.policy import apppasswords, sealing

    a, b = two_cores
    admin.create_tenant(a, "acme")
    user = admin.create_user(a, "acme", "alice", password="correct horse battery")
    a.config.policy.app_password_secret_file = str(tmp_path / "a" / "app.key")
    b.config.policy.app_password_secret_file = str(tmp_path / "b" / "app.key")
    record, secret = apppasswords.create(a, "acme", "alice", "laptop")  # a makes the key
    with pytest.raises(ConfigError, match="not the app-password secret of this catalog"):
        sealing.server_secret(b)  # node b made its own: refused, not silently different
    (tmp_path / "b" / "app.key").write_bytes((tmp_path / "a" / "app.key").read_bytes())
    found = apppasswords.find(b, user.id, secret)  # made through a, checked on b
    assert found is not None and found.id == record.id


def test_a_totp_code_and_a_recovery_code_are_accepted_once_across_two_nodes(
        two_cores: tuple[Core, Core]) -> None:
    import pyotp

    from gateway.policy import totp

    a, b = two_cores
    admin.create_tenant(a, "acme")
    user = admin.create_user(a, "acme", "alice", password="correct horse battery")
    enrolment = totp.enroll(a, "acme", "alice")
    previous = pyotp.TOTP(enrolment.secret).at(time.time() - totp.STEP_S)
    recovery = totp.confirm(a, "acme", "alice", previous)
    now_code = pyotp.TOTP(enrolment.secret).now()
    # the same code presented to both nodes at once (a replayed code): one acceptance
    results = race([lambda c=c: totp.verify(c, user.tenant_id, user.id, now_code)
                    for c in (a, b, a, b)])
    assert sorted(map(str, results)) == ["False", "False", "False", "True"], results
    results = race([lambda c=c: totp.use_recovery_code(c, user.id, recovery[0])
                    for c in (a, b, a, b)])
    assert sorted(map(str, results)) == ["False", "False", "False", "True"], results
