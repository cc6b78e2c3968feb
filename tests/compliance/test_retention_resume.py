"""A retention run killed with SIGKILL half-way (after its first batch committed, before
that batch's blobs left the store) resumes on the next run: exactly the due files are
deleted, nothing else, and the blob store holds no orphan."""

from __future__ import annotations

from pathlib import Path

from cli_runner import clean_env, killed_after
from retention_helpers import (
    all_files,
    catalog_blob_ids,
    core_of,
    days_from_now,
    make_env,
    put,
    store_ids,
)
from sqlalchemy import func, select

from gateway.catalog.tables import blob_deletions
from gateway.compliance.retention.run import PAUSE_ENV


def test_killed_run_resumes_without_loss_or_orphans(tmp_path: Path, empty_db_url: str) -> None:
    env = make_env(tmp_path, empty_db_url)  # SQLite and PostgreSQL
    old = {f"/old/f{i:02}.txt": bytes([i]) * (100 + i) for i in range(25)}
    young = {f"/young/g{i:02}.txt": bytes([i]) * (50 + i) for i in range(15)}
    put(env, {**old, **young})
    env.run("retention", "set", "--tenant", "acme", "--path", "/old", "--files-days", "7")
    env.run("retention", "set", "--tenant", "acme", "--path", "/young", "--files-days", "100")
    when = days_from_now(8)

    killed_after(["retention", "run", "--now", when, "--batch-files", "10"], cwd=env.base,
                 env=clean_env(LUMANOX_CONFIG=str(env.config), **{PAUSE_ENV: "120"}),
                 first_line="batch 1 committed: 10 files", stream="stdout")
    left = all_files(env)
    assert young.keys() <= left and len(left & old.keys()) == 15  # one batch deleted
    with core_of(env) as core, core.catalog.read() as conn:  # its blobs still queued
        assert conn.execute(select(func.count()).select_from(blob_deletions)).scalar() == 10
    assert len(store_ids(env) - catalog_blob_ids(env)) == 10

    report = env.json("retention", "run", "--now", when, "--batch-files", "10")
    assert report["blobs_resumed"] == 10
    assert report["tenants"][0]["files_deleted"] == 15
    assert all_files(env) == set(young)
    assert store_ids(env) == catalog_blob_ids(env) and len(store_ids(env)) == len(young)
    with core_of(env) as core, core.catalog.read() as conn:
        assert conn.execute(select(func.count()).select_from(blob_deletions)).scalar() == 0
