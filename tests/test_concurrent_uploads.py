"""Many writers at once through one Core (as cheroot's and the SFTP executor's threads
are): every upload lands, usage counts them all, the audit chain stays whole."""

from __future__ import annotations

import threading

from sqlalchemy import select

from gateway import admin
from gateway.audit import verify_chain
from gateway.catalog.tables import audit_events
from gateway.core import Core
from gateway.session import Session


def test_concurrent_uploads_on_either_database(core: Core, session: Session) -> None:
    threads, per_thread = 8, 10
    sessions = [core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")
                for _ in range(threads)]
    errors: list[BaseException] = []

    def many(s: Session, k: int) -> None:
        try:
            for j in range(per_thread):
                s.write_file(f"/t{k}-{j}", f"{k}/{j}".encode() * (1 + j * 2000))
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=many, args=(s, k)) for k, s in enumerate(sessions)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert errors == []
    names = sorted(e.name for e in session.list("/"))
    assert names == sorted(f"t{k}-{j}" for k in range(threads) for j in range(per_thread))
    assert session.usage().used_files == threads * per_thread
    for k in range(threads):  # inline (small) and store (large) versions read back
        j = per_thread - 1
        assert session.read_file(f"/t{k}-{j}") == f"{k}/{j}".encode() * (1 + j * 2000)
    core.audit.flush()
    with core.catalog.read() as conn:
        writes = conn.execute(select(audit_events.c.path).where(
            audit_events.c.chain == session.tenant_id, audit_events.c.action == "write",
            audit_events.c.result == "ok")).scalars().all()
        assert len(writes) == threads * per_thread
        assert verify_chain(conn, session.tenant_id, core.audit.key) is None
