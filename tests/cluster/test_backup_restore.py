"""Backup and restore of a PostgreSQL deployment, exactly as docs/deployment.md tells:
``pg_dump -Fc`` of the catalog, a copy of the key files, the audit checkpoint and the blob
folder; restored into a NEW database and a NEW data dir, the restored gateway serves the
same files (sha256) and its audit chains verify."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cluster.conftest import PW, drop_database, new_database, populate
from tests.cluster.nodes import make_cluster, write_node
from tests.conftest import IN_CI

pytestmark = pytest.mark.timeout(600)


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if IN_CI:
            pytest.fail(f"CI requires {name} (apt-get install postgresql-client)")
        pytest.skip(f"{name} is not installed (apt-get install postgresql-client)")
    return found


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_restore_into_new_database_and_data_dir_serves_same_files(tmp_path: Path) -> None:
    pg_dump, pg_restore = tool("pg_dump"), tool("pg_restore")
    url, name = new_database()
    new_url, new_name = new_database()
    try:
        node = make_cluster(tmp_path / "old", url, count=1)[0]
        populate(node)
        files = {f"/doc{i}.bin": os.urandom(size) for i, size in
                 enumerate((10, 5000, 70_000, 1_500_000))}
        for path, body in files.items():
            src = tmp_path / f"src{len(body)}"
            src.write_bytes(body)
            node.cli("files", "put", "alice@acme", str(src), path)
        shared = tmp_path / "old" / "shared"

        # --- backup (docs/deployment.md, "Backup and restore") ---
        backup = tmp_path / "backup"
        backup.mkdir()
        subprocess.run([pg_dump, "-Fc", "-f", str(backup / "catalog.dump"), libpq(url)],
                       check=True, timeout=300)
        for f in ("master.key", "app-password.key"):
            if (shared / f).exists():
                shutil.copy2(shared / f, backup / f)
        shutil.copy2(node.base / "var" / "audit-checkpoint.json", backup)
        shutil.copytree(shared / "blobs", backup / "blobs")
        shutil.copytree(shared / "certs", backup / "certs")
        # the old deployment is gone
        drop_database(name)
        shutil.rmtree(tmp_path / "old")

        # --- restore into a new database, a new data dir, new paths ---
        subprocess.run([pg_restore, "--no-owner", "--exit-on-error", "-d", libpq(new_url),
                        str(backup / "catalog.dump")], check=True, timeout=300)
        new_shared = tmp_path / "new" / "shared"
        shutil.copytree(backup, new_shared, ignore=shutil.ignore_patterns("catalog.dump",
                                                                          "audit-*"))
        restored = write_node(tmp_path / "new", "restored", new_url, new_shared)
        (restored.base / "var").mkdir(mode=0o700)
        shutil.copy2(backup / "audit-checkpoint.json", restored.base / "var")
        verify = restored.cli("audit", "verify", "--json", ok=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert json.loads(verify.stdout)["intact"] is True
        restored.start()
        try:
            for path, body in files.items():
                got = subprocess.run(["curl", "-sk", "-u", f"alice@acme:{PW}", "--fail",
                                      f"{restored.url}{path}"], capture_output=True,
                                     timeout=120, check=True).stdout
                assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()
        finally:
            restored.stop()
    finally:
        drop_database(name)
        drop_database(new_name)
