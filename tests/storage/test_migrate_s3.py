"""``storage migrate`` from the local default store to a named s3 store (moto's server),
killed with SIGKILL in the middle of a multipart copy and run again: every file reads back
over WebDAV with its sha256 unchanged, the catalog names the s3 store for every blob, the
bucket holds exactly those objects, the old folder holds none, and the sweep leaves no
multipart upload behind. SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select
from storage_helpers import blob_stores, core_of, killed_migrate, served, sha, stored_ids

from gateway.backends.stores import load_stores
from gateway.catalog.tables import blobs
from gateway.config import load_config
from tests.s3.moto_server import MotoS3, shared, write_credentials

MiB = 1024 * 1024
PART = 5 * MiB  # the s3 store's smallest part size: larger blobs are multipart uploads
PAUSE_AT = PART + MiB  # a copy paused here has sent its first part, not completed
PREFIX = "mig/"


def _stores(server: MotoS3, bucket: str, creds: Path) -> str:
    return ('[storage]\nregion = "eu-central"\n'
            '[stores.s3store]\nbackend = "s3"\nregion = "eu-central"\ns3_region = "eu-central-1"\n'
            f'endpoint_url = "{server.url}"\nbucket = "{bucket}"\nprefix = "{PREFIX}"\n'
            f'addressing_style = "path"\ncredentials_file = "{creds}"\n'
            f'part_size = {PART}\nparts_in_flight = 2\nmax_attempts = 2\n')


def _files() -> dict[str, bytes]:
    """Inline (up to 64 KiB, kept in the catalog) and stored blobs, two multipart-sized."""
    sizes = [0, 100, 65_536, 65_537, 300_000, MiB + 17, PAUSE_AT + 3, PAUSE_AT + 250_000,
             *(2_000 + i for i in range(4)), *(70_000 + i for i in range(4))]
    return {f"/m/f{i:02}.bin": os.urandom(n) for i, n in enumerate(sizes)}


def _stored_rows(env) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Stored (not inline) blob id -> stored size."""
    with core_of(env) as core, core.catalog.read() as conn:
        return dict(conn.execute(select(blobs.c.id, blobs.c.stored_size)
                                 .where(blobs.c.inline_data.is_(None))).all())


def test_migrate_to_s3_killed_mid_multipart_resumes(tmp_path: Path, db_url: str) -> None:
    server = shared()
    bucket = server.new_bucket()
    s3 = server.client()
    stores = _stores(server, bucket, write_credentials(tmp_path / "s3-credentials"))
    files = _files()
    (tmp_path / "gw").mkdir()
    with served(tmp_path / "gw", db_url, stores=stores) as srv:
        env = srv.env
        assert srv.curl("MKCOL", "/m")[0] == 201
        for path, data in files.items():
            (tmp_path / "up").write_bytes(data)
            assert srv.curl("PUT", path, "--data-binary", f"@{tmp_path / 'up'}")[0] == 201
        stored = _stored_rows(env)
        assert len(stored) == 9 and len(blob_stores(env)) == len(files)
        assert stored_ids(env, "default") == set(stored)

        # kill the run inside the copy of the last (by id: the copy order) large blob,
        # its multipart upload open on S3 (the first part is sent before write returns)
        order = sorted(stored)
        nth = max(i for i, b in enumerate(order, 1) if stored[b] > PAUSE_AT)
        line = killed_migrate(env, "s3store", f"{nth}:{PAUSE_AT}", batch=2)
        assert line.startswith(f"migrate: paused in copy {nth} at"), line
        switched = 2 * ((nth - 1) // 2)  # whole batches of two before the paused copy
        assert list(blob_stores(env).values()).count("s3store") == switched
        assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1
        for path, data in files.items():  # nothing lost mid-way
            status, body = srv.curl("GET", path)
            assert status == 200 and sha(body) == sha(data), path

        report = env.json("storage", "migrate", "--tenant", "acme", "--to", "s3store")
        assert report["files"] == len(stored) - switched and report["skipped"] == 0
        assert {b: s for b, s in blob_stores(env).items() if b in stored} == \
            dict.fromkeys(stored, "s3store")
        assert stored_ids(env, "default") == set()  # nothing left in the old folder
        env.run("gc", "--grace", "0")  # the orphan sweep keeps every migrated blob
        objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        assert {o["Key"]: o["Size"] for o in objects} == \
            {PREFIX + b: size for b, size in stored.items()}
        for path, data in files.items():
            status, body = srv.curl("GET", path)
            assert status == 200 and sha(body) == sha(data), path

        # the killed copy's upload is the sweeper's (gc's own floor is a minute: the same
        # sweep without it)
        swept = load_stores(load_config(env.config)).named("s3store").sweep_temp(0, False)
        assert swept is not None and swept.removed == 1 and swept.removed_bytes >= PART
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
