"""A retention run over many files (default 100,000): time and files/s, and the read pass
alone (``--dry-run``), on the embedded default (SQLite catalog, local blob store).

The files are made directly in the catalog (rows as an upload leaves them: one blob each,
uploaded 40 days ago; ``--stored`` of them with content in the blob store, the rest inline
as small files are) under 100 folders; a tenant rule deletes files 30 days after upload,
so every file is due. Each batch (``--batch``, default 500) is one transaction.

Usage: .venv/bin/python bench/bench_retention.py [--files 100000] [--batch 500]
       [--stored 0.1] [--db-url URL] [--dir DIR]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from gateway import admin
from gateway.catalog import namespace as ns
from gateway.catalog.tables import blobs, nodes, tenants, users
from gateway.compliance.retention import rules
from gateway.compliance.retention.run import run_retention
from gateway.config import Config
from gateway.core import Core
from gateway.keyring import create_master_key_file


def open_core(root: Path, db_url: str | None) -> Core:
    cfg = Config(base_dir=root)
    cfg.gateway.data_dir = str(root / "data")
    if db_url:
        cfg.catalog.url = db_url
    cfg.audit.log = "off"
    create_master_key_file(cfg.master_key_file)
    return Core.open(cfg)


def populate(core: Core, count: int, stored: float) -> None:
    t = admin.create_tenant(core, "acme")
    u = admin.create_user(core, "acme", "alice", password="correct horse battery 1")
    then = datetime.now(UTC) - timedelta(days=40)
    every = max(1, round(1 / stored)) if stored > 0 else 0
    with core.catalog.write() as conn:
        root = ns.root(conn, t.id).id
        dirs = [conn.execute(nodes.insert().values(
            tenant_id=t.id, parent_id=root, name=f"d{i:03}", name_key=f"d{i:03}", kind="dir",
            size=0, etag=ns.new_etag(), owner_id=u.id, mtime=then, ctime=then)
        ).inserted_primary_key[0] for i in range(100)]
    for start in range(0, count, 10000):
        blob_rows, node_rows = [], []
        for i in range(start, min(count, start + 10000)):
            bid = secrets.token_hex(16)
            in_store = every and i % every == 0
            if in_store:
                path = core.store.path_of(bid)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"x" * 64)
            blob_rows.append(dict(id=bid, tenant_id=t.id, size=100, stored_size=164,
                                  key_version=1, wrapped_key=b"k" * 40, created_at=then,
                                  inline_data=None if in_store else b"x" * 164))
            node_rows.append(dict(tenant_id=t.id, parent_id=dirs[i % 100], name=f"f{i}.txt",
                                  name_key=f"f{i}.txt", kind="file", size=100, blob_id=bid,
                                  etag=ns.new_etag(), owner_id=u.id, mtime=then, ctime=then))
        with core.catalog.write() as conn:
            conn.execute(blobs.insert(), blob_rows)
            conn.execute(nodes.insert(), node_rows)
    with core.catalog.write() as conn:
        for table, key in ((tenants, t.id), (users, u.id)):
            conn.execute(update(table).where(table.c.id == key).values(
                used_bytes=100 * count, used_files=count))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--stored", type=float, default=0.1, help="fraction in the blob store")
    ap.add_argument("--db-url", help="catalog (default: SQLite in --dir)")
    ap.add_argument("--dir", help="work folder (default: a temporary one, removed)")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="lmx-retention-"))
    try:
        with open_core(root, args.db_url) as core:
            t0 = time.perf_counter()
            populate(core, args.files, args.stored)
            made = time.perf_counter() - t0
            rules.set_rule(core, "acme", files_days=30)
            t0 = time.perf_counter()
            dry = run_retention(core, dry_run=True)
            scan_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = run_retention(core, batch_files=args.batch)
            run_s = time.perf_counter() - t0
        tr, due = report.tenants[0], dry.tenants[0].files_due
        print(f"retention bench: {args.files} files ({args.stored:.0%} in the blob store), "
              f"batch {args.batch}, catalog {'SQLite' if not args.db_url else 'PostgreSQL'}")
        print(f"  set-up (bulk rows)       {made:8.2f} s")
        print(f"  dry run (read pass)      {scan_s:8.2f} s  {due / scan_s:10.0f} files/s")
        print(f"  retention run            {run_s:8.2f} s  {tr.files_deleted / run_s:10.0f} "
              f"files/s  ({tr.batches} batches, {tr.bytes_deleted} bytes)")
        print(f"  run / read pass          {run_s / scan_s:8.2f}x")
        assert tr.files_deleted == args.files == due, "not every due file was deleted"
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
