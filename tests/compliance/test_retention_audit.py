"""``--audit-days M``: the run erases the personal fields of audit events older than M days
(audit v2 erasure) and the chain still verifies; newer events keep theirs."""

from __future__ import annotations

from pathlib import Path

from retention_helpers import days_from_now, events, make_env, put


def test_old_audit_events_lose_personal_fields_and_the_chain_verifies(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    put(env, {"/a.txt": b"a", "/b.txt": b"b"})
    writes = events(env, "write")
    assert writes and all(e["user"] == "alice" and e["path"] for e in writes)
    env.run("retention", "set", "--tenant", "acme", "--audit-days", "5")
    report = env.json("retention", "run", "--now", days_from_now(3))
    assert report["tenants"][0]["audit_erased"] == 0
    report = env.json("retention", "run", "--now", days_from_now(6))
    assert report["tenants"][0]["audit_erased"] >= len(writes)
    for e in events(env, "write"):
        assert e["user"] is None and e["path"] is None and e["salts"] is None
        assert e["commitments"]  # kept: the MAC still covers them
    assert events(env, "retention-set")[0]["user"] is None  # older than 5 days as well
    assert events(env, "retention-audit")[-1]["user"] == "admin"  # the erasure's own event
    verify = env.run("audit", "verify", ok=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
