"""Other real clients: sshfs, rclone (sftp backend, default settings), lftp."""

from __future__ import annotations

import filecmp
import os
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import IN_CI, PW, Gateway, make_file, need, sha256_file, wait_until

MiB = 1024 * 1024
NO_HOSTKEY = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"


def _tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma\n" * 1000)
    (root / "empty.txt").write_bytes(b"")
    return root


def _same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files, cmp.report()
    for sub in cmp.common_dirs:
        _same_tree(a / sub, b / sub)


# --- sshfs ---------------------------------------------------------------------------------
def test_sshfs_mount(gateway: Gateway, work: Path) -> None:
    sshfs = need("sshfs")
    fusermount = need("fusermount3") if os.path.exists("/usr/bin/fusermount3") \
        else need("fusermount")
    if not os.path.exists("/dev/fuse"):
        if IN_CI:
            pytest.fail("CI requires FUSE (/dev/fuse) for the sshfs test")
        pytest.skip("no /dev/fuse in this environment")
    gateway.sftp_batch("alice@acme", "mkdir fs\n")
    mnt = work / "mnt"
    mnt.mkdir()
    r = subprocess.run([sshfs, "-p", str(gateway.port), "-o", "password_stdin",
                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "PreferredAuthentications=password",
                        "alice@acme@127.0.0.1:/fs", str(mnt)],
                       input=PW + "\n", text=True, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        (mnt / "new.txt").write_text("written through sshfs\n")
        with (mnt / "new.txt").open("a") as f:  # append: an update of an existing file
            f.write("second line\n")
        (mnt / "dir").mkdir()
        os.rename(mnt / "new.txt", mnt / "dir" / "moved.txt")
        (mnt / "gone.txt").write_text("x")
        (mnt / "gone.txt").unlink()
        assert sorted(os.listdir(mnt)) == ["dir"]
    finally:
        subprocess.run([fusermount, "-u", str(mnt)], capture_output=True, timeout=30)
    # verify through another client
    r = gateway.sftp_batch("alice@acme", f"ls fs\nget fs/dir/moved.txt {work / 'm.txt'}\n")
    assert r.returncode == 0, r.stderr
    assert (work / "m.txt").read_text() == "written through sshfs\nsecond line\n"
    assert "gone.txt" not in r.stdout


# --- rclone --------------------------------------------------------------------------------
def _rclone_env(gateway: Gateway, rclone: str) -> dict[str, str]:
    obscured = subprocess.run([rclone, "obscure", PW], capture_output=True, text=True,
                              check=True).stdout.strip()
    env = dict(os.environ)
    env.update(RCLONE_CONFIG_GW_TYPE="sftp", RCLONE_CONFIG_GW_HOST="127.0.0.1",
               RCLONE_CONFIG_GW_PORT=str(gateway.port), RCLONE_CONFIG_GW_USER="alice@acme",
               RCLONE_CONFIG_GW_PASS=obscured, RCLONE_CONFIG="/dev/null")
    return env


def _rclone(rclone: str, env: dict[str, str], *args: str) -> str:
    r = subprocess.run([rclone, *args], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


@pytest.mark.slow
def test_rclone_copy_200mib_and_tree(gateway: Gateway, work: Path) -> None:
    rclone = need("rclone")
    env = _rclone_env(gateway, rclone)
    big = make_file(work / "big.bin", 200 * MiB, seed=21)  # > 64 MiB: trailing-bytes writes
    _rclone(rclone, env, "copy", str(big), "gw:rc/")
    tree = _tree(work / "tree")
    _rclone(rclone, env, "copy", str(tree), "gw:rc/tree")
    back = work / "back"
    _rclone(rclone, env, "copy", "gw:rc", str(back))
    assert sha256_file(back / "big.bin") == sha256_file(big)
    _same_tree(tree, back / "tree")
    listing = _rclone(rclone, env, "lsf", "-R", "gw:rc")
    assert "tree/sub/deeper/c.txt" in listing


def test_rclone_small_tree_and_about(gateway: Gateway, work: Path) -> None:
    rclone = need("rclone")
    env = _rclone_env(gateway, rclone)
    tree = _tree(work / "t2")
    _rclone(rclone, env, "copy", str(tree), "gw:rc2")
    _rclone(rclone, env, "check", str(tree), "gw:rc2", "--size-only")
    out = _rclone(rclone, env, "about", "gw:")
    assert "Total" in out or "Used" in out


# --- lftp ----------------------------------------------------------------------------------
def _lftp(gateway: Gateway, script: str) -> subprocess.CompletedProcess[str]:
    lftp = need("lftp")
    need("ssh")
    setup = (f'set sftp:connect-program "ssh -a -x {NO_HOSTKEY} '
             "-o PreferredAuthentications=password,keyboard-interactive "
             '-o PubkeyAuthentication=no"; '
             "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; ")
    return subprocess.run([lftp, "-u", f"alice@acme,{PW}", "-p", str(gateway.port),
                           "-e", setup + script + "; quit", "sftp://127.0.0.1"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_lftp_mirror_both_ways(gateway: Gateway, work: Path) -> None:
    tree = _tree(work / "up")
    r = _lftp(gateway, f"mkdir -p lf; mirror -R {tree} lf/up")
    assert r.returncode == 0, r.stdout + r.stderr
    down = work / "down"
    r = _lftp(gateway, f"mirror lf/up {down}")
    assert r.returncode == 0, r.stdout + r.stderr
    _same_tree(tree, down)
    # a change on one side is mirrored again
    (tree / "a.txt").write_text("alpha, edited\n")
    time.sleep(1.1)
    r = _lftp(gateway, f"mirror -R {tree} lf/up; mirror lf/up {down}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert wait_until(lambda: (down / "a.txt").read_text() == "alpha, edited\n", 5)
