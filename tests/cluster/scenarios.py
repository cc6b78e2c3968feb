"""Test bodies that run on every kind of cluster (``cluster``: a shared blob folder,
``s3_cluster``: a shared S3 bucket); the test modules call them with their fixture."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.cluster.clients import curl, sftp
from tests.cluster.conftest import PW, Cluster
from tests.cluster.nodes import Node


def webdav_on_a_then_sftp_from_b(cluster: Cluster, tmp_path: Path) -> None:
    """A blob and an inline file uploaded over WebDAV to node a download over SFTP from
    node b with the same sha256."""
    src = tmp_path / "report.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # beyond the inline limit: a blob
    small = tmp_path / "small.txt"
    small.write_bytes(b"inline in the catalog row\n" * 10)
    for f in (src, small):
        assert curl("-T", str(f), f"{cluster.a.url}/{f.name}").stdout == "201"
    client, s = sftp(cluster.b)
    try:
        for f in (src, small):
            got = tmp_path / f"{f.name}.from-b"
            s.get(f"/{f.name}", str(got))
            assert hashlib.sha256(got.read_bytes()).hexdigest() == \
                hashlib.sha256(f.read_bytes()).hexdigest()
    finally:
        client.close()


def concurrent_uploads_both_nodes(cluster: Cluster) -> None:
    """100 uploads to one tenant through both nodes at once (every path twice, once per
    node): each file whole, quota usage exact, the audit chain intact with 100 writes."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    paths = [f"/load/f{i:03d}.bin" for i in range(50)]
    # sizes on both sides of the inline limit (64 KiB): catalog rows and blobs take part
    jobs = [(node, path, os.urandom(1000 + (i * 7919 + k * 104729) % 150_000))
            for i, path in enumerate(paths) for k, node in enumerate(cluster.nodes)]
    assert curl("-X", "MKCOL", f"{cluster.a.url}/load", user="uma@acme").stdout == "201"

    def put(job: tuple[Node, str, bytes]) -> int:
        node, path, body = job
        with requests.Session() as s:
            return s.put(f"{node.url}{path}", data=body, auth=("uma@acme", PW),
                         verify=False, timeout=120).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(put, jobs))
    assert all(c in (201, 204) for c in codes), codes
    client, s = sftp(cluster.b, "uma@acme")
    try:
        sizes = {a.filename: a.st_size for a in s.listdir_attr("/load")}
    finally:
        client.close()
    assert len(sizes) == 50
    # each file holds one of the two bodies sent for it, whole
    sent = {path: {len(body) for n, p, body in jobs if p == path} for path in paths}
    assert all(sizes[p.rsplit("/", 1)[1]] in sent[p] for p in paths)
    shown = cluster.a.cli("user", "show", "uma@acme", "--json").stdout
    usage = json.loads(shown)
    assert usage["used_files"] == 50
    assert usage["used_bytes"] == sum(sizes.values())
    verify = cluster.b.cli("audit", "verify", "--json", ok=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["intact"] is True
    events = cluster.a.cli("audit", "query", "--tenant", "acme", "--user", "uma",
                           "--action", "write", "--format", "json").stdout
    assert events.count('"result": "ok"') + events.count('"result":"ok"') == 100
