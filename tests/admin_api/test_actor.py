"""The actor of administrative events: ``admin`` for the CLI, the token inside
``acting_as`` (per thread), and audit erasure finds API events naming a user too."""

from __future__ import annotations

import threading

from sqlalchemy import select

from gateway import actor, admin, locks_admin
from gateway.auditv2.erase import erase_subject
from gateway.catalog.tables import audit_events
from gateway.core import Core
from gateway.policy import manage


def _events(core: Core, action: str) -> list[dict]:  # type: ignore[type-arg]
    core.audit.flush()
    with core.catalog.read() as conn:
        return [dict(r) for r in conn.execute(select(audit_events).where(
            audit_events.c.action == action).order_by(audit_events.c.id)).mappings()]


def test_service_functions_audit_the_current_actor(core: Core) -> None:
    admin.create_tenant(core, "acme")
    with actor.acting_as("token:ops", "api", "192.0.2.7"):
        admin.create_user(core, "acme", "alice")
        manage.set_tenant_policy(core, "acme", max_sessions=3)
        admin.record_admin_action(core, "gc", reason="x")
    admin.create_user(core, "acme", "bob")
    users = [(e["path"], e["user"], e["protocol"], e["remote_addr"])
             for e in _events(core, "user-create")]
    assert users == [("alice", "token:ops", "api", "192.0.2.7"), ("bob", "admin", "admin", None)]
    assert _events(core, "policy-set")[0]["user"] == "token:ops"
    assert _events(core, "gc")[0]["protocol"] == "api"
    assert locks_admin.list_locks(core, "acme") == []


def test_the_actor_belongs_to_one_thread(core: Core) -> None:
    seen: list[str] = []
    with actor.acting_as("token:ops", "api"):
        other = threading.Thread(target=lambda: seen.append(actor.current().user))
        other.start()
        other.join()
        assert actor.current().user == "token:ops"
    assert seen == ["admin"] and actor.current() == actor.ADMIN


def test_erasure_covers_api_events_naming_the_user(core: Core) -> None:
    admin.create_tenant(core, "acme")
    with actor.acting_as("token:ops", "api"):
        admin.create_user(core, "acme", "alice")
    counts = erase_subject(core, "acme", "alice")
    assert counts["admin_events_naming_user"] == 1
    assert _events(core, "user-create")[0]["path"] is None
