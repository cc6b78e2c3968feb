"""``retention set|show|clear|run``: exactly the files past their limit are deleted, by the
rule of their deepest folder, with the run's clock set by the hidden ``--now``; their blobs
leave the store; holds and the trash are respected; the run is audited."""

from __future__ import annotations

from pathlib import Path

from retention_helpers import (
    all_files,
    catalog_blob_ids,
    core_of,
    days_from_now,
    events,
    make_env,
    put,
    session,
    store_ids,
)

FILES = {
    "/a.txt": b"a" * 100,            # tenant rule: 30 days after upload
    "/keep/b.txt": b"b" * 200,       # /keep: 365 days
    "/short/c.txt": b"c" * 300,      # /short: 7 days
    "/short/sub/d.txt": b"d" * 400,  # /short applies below it too
    "/chg/e.txt": b"e" * 500,        # /chg: 10 days after the last change
    "/upl/f.txt": b"f" * 600,        # /upl: 10 days after upload
}


def test_run_deletes_exactly_what_is_due_by_folder_rules(tmp_path: Path,
                                                         empty_db_url: str) -> None:
    env = make_env(tmp_path, empty_db_url)  # SQLite and PostgreSQL
    put(env, FILES)
    with core_of(env) as core:  # a later change: mtime 5 days ahead (as a client may set)
        from datetime import UTC, datetime, timedelta

        s = session(core)
        for p in ("/chg/e.txt", "/upl/f.txt"):
            s.set_mtime(p, datetime.now(UTC) + timedelta(days=5))
    env.run("retention", "set", "--tenant", "acme", "--files-days", "30", "--audit-days", "400")
    env.run("retention", "set", "--tenant", "acme", "--path", "/keep", "--files-days", "365")
    env.run("retention", "set", "--tenant", "acme", "--path", "/short", "--files-days", "7")
    env.run("retention", "set", "--tenant", "acme", "--path", "/chg", "--files-days", "10",
            "--after", "change")
    env.run("retention", "set", "--tenant", "acme", "--path", "/upl", "--files-days", "10")
    shown = env.json("retention", "show", "--tenant", "acme")
    assert {r["path"]: r["files_days"] for r in shown} == {
        "/": 30, "/keep": 365, "/short": 7, "/chg": 10, "/upl": 10}
    refused = env.run("retention", "set", "--tenant", "acme", "--path", "/keep",
                      "--audit-days", "5", ok=False)
    assert refused.returncode != 0 and "drop --path" in refused.stderr

    before = store_ids(env)
    assert len(before) == len(FILES)
    dry = env.json("retention", "run", "--dry-run", "--now", days_from_now(12))
    assert dry["tenants"][0]["files_due"] == 3 and all_files(env) == set(FILES)

    env.run("retention", "run", "--now", days_from_now(6))  # nothing due yet
    assert all_files(env) == set(FILES)
    report = env.json("retention", "run", "--now", days_from_now(12))
    assert report["tenants"][0]["files_deleted"] == 3
    assert all_files(env) == {"/a.txt", "/keep/b.txt", "/chg/e.txt"}
    assert report["tenants"][0]["bytes_deleted"] == 300 + 400 + 600
    env.run("retention", "run", "--now", days_from_now(16))  # /chg counts from its change
    assert all_files(env) == {"/a.txt", "/keep/b.txt"}
    env.run("retention", "run", "--now", days_from_now(31))
    assert all_files(env) == {"/keep/b.txt"}
    # the blobs left the store with their rows; nothing orphaned
    assert store_ids(env) == catalog_blob_ids(env) and len(store_ids(env)) == 1
    deleted = events(env, "retention-delete")
    assert sum(e["bytes"] for e in deleted) == sum(len(v) for k, v in FILES.items()
                                                   if k != "/keep/b.txt")
    assert events(env, "retention-set") and events(env, "retention-run")
    with core_of(env) as core:
        assert session(core).usage().used_files == 1
    env.run("retention", "clear", "--tenant", "acme", "--path", "/keep")
    env.run("retention", "run", "--now", days_from_now(40))
    assert all_files(env) == set()  # the tenant rule applies to /keep now
    assert events(env, "retention-clear")


def test_run_spares_held_files_and_purges_old_trash(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    put(env, {"/case/x.txt": b"x" * 10, "/y.txt": b"y" * 20, "/z.txt": b"z" * 30,
              "/w.txt": b"w" * 40})
    env.run("trash", "enable", "--tenant", "acme", "--days", "14")
    env.run("retention", "set", "--tenant", "acme", "--files-days", "30")
    hold = env.json("hold", "set", "--tenant", "acme", "--path", "/case", "--reason",
                    "litigation 2026-17")
    with core_of(env) as core:
        session(core).delete("/z.txt")  # to the trash
    assert "/z.txt" not in all_files(env)

    env.run("retention", "run", "--now", days_from_now(10))  # trash item 10 days old: kept
    assert [i["path"] for i in env.json("trash", "list", "--tenant", "acme")] == ["/z.txt"]
    report = env.json("retention", "run", "--now", days_from_now(31))
    t = report["tenants"][0]
    # retention deletes for good (not to the trash); the held file stays; old trash purged
    assert t["files_deleted"] == 2 and t["held"] == 1 and t["trash_purged"] == 1
    assert all_files(env) == {"/case/x.txt"}
    assert env.json("trash", "list", "--tenant", "acme") == []
    assert store_ids(env) == catalog_blob_ids(env) and len(store_ids(env)) == 1
    env.run("hold", "release", "--tenant", "acme", hold["id"])
    env.run("retention", "run", "--now", days_from_now(31))
    assert all_files(env) == set()
    assert store_ids(env) == set() == catalog_blob_ids(env)
