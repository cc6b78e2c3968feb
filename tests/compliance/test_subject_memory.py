"""A data-subject export streams: its memory does not grow with the size of the export.

A 300 MiB export (two files) is written by the real CLI; the peak resident memory of that
process (``wait4``'s ``ru_maxrss``, of this one child only) must stay under 150 MiB, half
the size of the export. Reading a file or building a member in memory would exceed it.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from cli_runner import CLI, CliEnv, clean_env
from peak_rss import run_measured

MIB = 1 << 20
FILE_MIB = 150
BUDGET_MIB = 150


def _big_file(path: Path, mib: int, seed: str) -> str:
    """Incompressible content written a MiB at a time; returns its SHA-256."""
    digest = hashlib.sha256()
    block = hashlib.shake_256(seed.encode()).digest(MIB)
    with path.open("wb") as f:
        for i in range(mib):
            chunk = i.to_bytes(8, "big") + block[8:]
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_export_peak_memory_stays_below_half_its_size(tmp_path: Path) -> None:
    gw = CliEnv(tmp_path)
    gw.run("init")
    gw.run("tenant", "create", "acme")
    gw.run("user", "create", "alice@acme", "--generate-password")
    digests = {}
    for name in ("one.bin", "two.bin"):
        src = tmp_path / name
        digests[name] = _big_file(src, FILE_MIB, name)
        gw.run("files", "put", "alice@acme", str(src), f"/{name}", timeout=600)
        src.unlink()
    out = tmp_path / "export.zip"
    code, peak, err = run_measured([*CLI, "subject", "export", "--tenant", "acme", "--user",
                                    "alice", "--out", str(out)],
                                   env=clean_env(LUMANOX_CONFIG=str(gw.config)), cwd=tmp_path,
                                   timeout=900)
    assert code == 0, err
    peak_mib = peak / 2**20
    with zipfile.ZipFile(out) as z:
        total = 0
        for name, digest in digests.items():
            h = hashlib.sha256()
            with z.open(f"files/{name}") as member:
                while chunk := member.read(MIB):
                    h.update(chunk)
                    total += len(chunk)
            assert h.hexdigest() == digest
    assert total == 2 * FILE_MIB * MIB
    print(f"export of {total // MIB} MiB: peak RSS {peak_mib:.0f} MiB")
    assert peak_mib < BUDGET_MIB, f"peak RSS {peak_mib:.0f} MiB for a {total // MIB} MiB export"
