"""The orphan sweeper and the status report."""

from __future__ import annotations

import os
import time

from gateway import admin
from gateway.blobio import BlobWriter
from gateway.core import Core
from gateway.maintenance import status, sweep_orphans


def test_gc_deletes_only_old_unreferenced_blobs(core: Core) -> None:
    t = admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "u")
    s = core.session(admin.principal_for(core, "acme", "u"), "test", "::1")
    s.write_file("/kept", b"referenced" * 10_000)  # big enough for the blob store
    # an orphan: a blob written by an upload that crashed before its catalog commit
    w = BlobWriter(core.store, core.keyring, t.id)
    w.write(b"orphan")
    orphan = w.finish()
    old = time.time() - 7200
    os.utime(core.store.path_of(orphan.id), (old, old))
    young = BlobWriter(core.store, core.keyring, t.id)
    young.write(b"upload in flight")
    young_rec = young.finish()

    dry = sweep_orphans(core, 3600, dry_run=True)
    assert (dry.examined, dry.deleted, dry.kept_young) == (3, 1, 1)
    assert core.store.path_of(orphan.id).exists()

    result = sweep_orphans(core, 3600)
    assert (result.deleted, result.kept_young) == (1, 1)
    assert not core.store.path_of(orphan.id).exists()
    assert core.store.path_of(young_rec.id).exists()
    assert s.read_file("/kept") == b"referenced" * 10_000


def test_gc_removes_abandoned_temp_files(core: Core) -> None:
    tmp = core.store.tmp_dir / "deadbeef.tmp"
    tmp.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(tmp, (old, old))
    assert sweep_orphans(core, 60).temp_files_removed == 1
    assert not tmp.exists()


def test_status_counts(core: Core) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "u")
    s = core.session(admin.principal_for(core, "acme", "u"), "test", "::1")
    s.mkdir("/d")
    s.write_file("/d/f", b"abc")
    s.write_file("/d/big", os.urandom(100_000))
    st = status(core)
    assert st["schema"]["up_to_date"] is True
    assert (st["tenants"], st["users"], st["files"], st["folders"], st["blobs"]) == \
        (1, 1, 2, 2, 2)
    assert st["inline_blobs"] == 1 and 3 < st["inline_bytes"] < 1000
    assert st["stored_bytes"] > 100_000 + st["inline_bytes"]
