"""Callers that know only a blob id go through the set of stores: the orphan sweeper
(``gc``) lists and cleans every named store and keeps what the catalog references there;
content-MAC checks and deletions find a blob in whichever store holds it."""

from __future__ import annotations

from pathlib import Path

from storage_helpers import blob_stores, core_of, make_env, session, stored_ids

from gateway import maintenance


def test_gc_sweeps_orphans_in_every_store_and_keeps_referenced_blobs(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    env.run("tenant", "set", "acme", "--store", "ch1")
    with core_of(env) as core:
        session(core).write_file("/kept.txt", b"referenced, in ch1")
        for store, orphan in (("ch1", "a" * 32), ("us1", "b" * 32), ("default", "c" * 32)):
            sink = core.stores.named(store).create(orphan)
            sink.write(b"left by a crash")
            sink.commit()
        result = maintenance.sweep_orphans(core, grace_seconds=0)
        assert result.deleted == 3
    (kept,) = blob_stores(env)
    assert stored_ids(env, "ch1") == {kept}
    assert stored_ids(env, "us1") == set() and stored_ids(env, "default") == set()
    with core_of(env) as core:
        s = session(core)
        assert s.read_file("/kept.txt") == b"referenced, in ch1"
        s.delete("/kept.txt")  # deleting the file removes its blob from ch1
    assert stored_ids(env, "ch1") == set()
