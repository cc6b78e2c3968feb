"""The two-node tests whose data goes through the blob store, on one S3 bucket (moto's
server) shared by both nodes instead of a shared folder: afterwards the bucket holds
exactly one object per stored blob of the catalog (replaced versions deleted, none
missing), one per file above the inline limit, and neither node keeps a local blob file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from gateway.catalog.tables import blobs, nodes
from tests.cluster.conftest import Cluster
from tests.cluster.scenarios import concurrent_uploads_both_nodes, webdav_on_a_then_sftp_from_b

pytestmark = pytest.mark.timeout(600)

INLINE_MAX = 65_536  # storage.inline_max_bytes (default): larger files are blobs in S3
_BLOB_NAME = re.compile(r"\A[0-9a-f]{32}\Z")


def assert_bucket_matches_catalog(cluster: Cluster) -> None:
    assert cluster.s3 is not None
    server, bucket, prefix = cluster.s3
    objects = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    engine = create_engine(cluster.db_url)
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(select(blobs.c.id, blobs.c.stored_size)
                                       .where(blobs.c.inline_data.is_(None))).all())
            sizes = conn.execute(select(nodes.c.size).where(nodes.c.kind == "file")).scalars()
            large = sum(1 for size in sizes if size > INLINE_MAX)
    finally:
        engine.dispose()
    assert {o["Key"]: o["Size"] for o in objects} == \
        {prefix + b: size for b, size in stored.items()}
    assert len(stored) == large
    root = cluster.a.base.parent  # both nodes' dirs and the shared dir
    local = [p for p in root.rglob("*") if p.is_file() and _BLOB_NAME.match(p.name)]
    assert local == []


def test_upload_over_webdav_to_a_downloads_over_sftp_from_b_on_s3(s3_cluster: Cluster,
                                                                   tmp_path: Path) -> None:
    webdav_on_a_then_sftp_from_b(s3_cluster, tmp_path)
    assert_bucket_matches_catalog(s3_cluster)


def test_concurrent_uploads_through_both_nodes_on_s3(s3_cluster: Cluster) -> None:
    concurrent_uploads_both_nodes(s3_cluster)
    assert_bucket_matches_catalog(s3_cluster)
