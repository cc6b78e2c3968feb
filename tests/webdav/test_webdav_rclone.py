"""rclone as a WebDAV client: a tree (200 MiB file, Unicode and spaces) up and back with
``rclone check``; and ``rclone mount`` (FUSE) used like a drive, verified by another client."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSWORDS, Gateway, require_tool
from davclient import DavClient

NAMES = ["plain.txt", "with space.txt", "Ünïcödé \u2013 naïve.txt", "日本語 ファイル.bin",
         "sub folder/emoji 🎉.txt", "sub folder/deeper/ä ö ü.dat"]


@pytest.fixture
def rclone_env(gateway: Gateway, tmp_path: Path) -> dict[str, str]:
    exe = require_tool("rclone")
    obscured = subprocess.run([exe, "obscure", PASSWORDS["alice@acme"]], capture_output=True,
                              text=True, check=True).stdout.strip()
    conf = tmp_path / "rclone.conf"
    conf.write_text("")
    return dict(os.environ, RCLONE_CONFIG=str(conf), RCLONE_CONFIG_GW_TYPE="webdav",
                RCLONE_CONFIG_GW_URL=f"{gateway.url}/", RCLONE_CONFIG_GW_VENDOR="other",
                RCLONE_CONFIG_GW_USER="alice@acme", RCLONE_CONFIG_GW_PASS=obscured)


def rclone(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["rclone", "--no-check-certificate", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def make_tree(root: Path, big_mib: int) -> None:
    for i, name in enumerate(NAMES):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(1000 + i * 4099))
    with (root / "big file 200MiB.bin").open("wb") as f:
        block = os.urandom(1 << 20)
        for i in range(big_mib):
            f.write(hashlib.sha256(str(i).encode()).digest() + block[32:])


@pytest.mark.slow
def test_rclone_copy_tree_up_and_back(rclone_env: dict[str, str], tmp_path: Path,
                                      alice: DavClient) -> None:
    src, back = tmp_path / "src", tmp_path / "back"
    make_tree(src, 200)
    alice.request("DELETE", "/rclone-tree")
    r = rclone(rclone_env, "copy", str(src), "gw:rclone-tree")
    assert r.returncode == 0, r.stderr[-2000:]
    r = rclone(rclone_env, "check", str(src), "gw:rclone-tree")
    assert r.returncode == 0, r.stderr[-2000:]
    r = rclone(rclone_env, "copy", "gw:rclone-tree", str(back))
    assert r.returncode == 0, r.stderr[-2000:]
    r = rclone(rclone_env, "check", str(src), str(back), "--checksum")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (back / "big file 200MiB.bin").stat().st_size == 200 << 20
    assert alice.get("/rclone-tree/sub folder/emoji 🎉.txt").status == 200


@pytest.fixture
def mounted(rclone_env: dict[str, str], tmp_path: Path, alice: DavClient) -> Iterator[Path]:
    require_tool("fusermount3", "fusermount")
    if not Path("/dev/fuse").exists():
        msg = "FUSE is not available (/dev/fuse missing)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    alice.request("DELETE", "/mounted")
    assert alice.request("MKCOL", "/mounted").status == 201
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.Popen(["rclone", "--no-check-certificate", "mount", "gw:mounted",
                             str(mnt), "--vfs-cache-mode", "writes", "--dir-cache-time", "1s",
                             "--poll-interval", "0"], env=rclone_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("rclone mount failed: " + (proc.stderr.read() or b"")
                                 .decode()[-1000:])  # type: ignore[union-attr]
        time.sleep(0.2)
    try:
        yield mnt
    finally:
        subprocess.run([require_tool("fusermount3", "fusermount"), "-u", str(mnt)],
                       capture_output=True)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for(check, timeout: float = 20) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.slow
def test_rclone_mount_create_write_rename_delete(mounted: Path, alice: DavClient) -> None:
    (mounted / "notes").mkdir()
    f = mounted / "notes" / "draft one.txt"
    f.write_text("first draft\n")
    with f.open("a") as fh:
        fh.write("second line\n")
    assert wait_for(lambda: alice.get("/mounted/notes/draft one.txt").body
                    == b"first draft\nsecond line\n")
    f.rename(mounted / "notes" / "final ✓.txt")
    assert wait_for(lambda: alice.get("/mounted/notes/final ✓.txt").status == 200
                    and alice.get("/mounted/notes/draft one.txt").status == 404)
    # a change made through another client shows up in the mount
    alice.put("/mounted/notes/from-dav.txt", b"hello mount")
    assert wait_for(lambda: (mounted / "notes" / "from-dav.txt").exists()
                    and (mounted / "notes" / "from-dav.txt").read_bytes() == b"hello mount")
    (mounted / "notes" / "final ✓.txt").unlink()
    assert wait_for(lambda: alice.get("/mounted/notes/final ✓.txt").status == 404)
