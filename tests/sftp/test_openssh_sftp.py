"""OpenSSH ``sftp -b`` against the running gateway."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .conftest import PW, SSH_OPTS, Gateway, make_file, need, sha256_file, wait_until

MiB = 1024 * 1024


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_put_get_200mib(gateway: Gateway, work: Path) -> None:
    src = make_file(work / "big.bin", 200 * MiB, seed=7)
    ok(gateway.sftp_batch("alice@acme", f"mkdir big\nput {src} big/big.bin\n"
                                        f"get big/big.bin {work / 'back.bin'}\n"))
    assert sha256_file(work / "back.bin") == sha256_file(src)
    out = ok(gateway.sftp_batch("alice@acme", "ls -l big\n"))
    assert str(200 * MiB) in out


def test_basic_ops_and_owner_names(gateway: Gateway, work: Path) -> None:
    f = work / "a.txt"
    f.write_bytes(b"hello\n")
    out = ok(gateway.sftp_batch("alice@acme", f"mkdir basic\nput {f} basic/a.txt\n"
                                              "rename basic/a.txt basic/b.txt\nls -l basic\n"
                                              f"get basic/b.txt {work / 'b.txt'}\n"
                                              "rm basic/b.txt\nrmdir basic\n"))
    line = next(x for x in out.splitlines() if x.endswith("b.txt") and x.startswith("-"))
    assert " alice " in line and " acme " in line  # never the host's /etc/passwd names
    assert (work / "b.txt").read_bytes() == b"hello\n"
    out = ok(gateway.sftp_batch("alice@acme", "ls\n"))
    assert "basic" not in out


def test_symlink_and_hardlink_refused(gateway: Gateway, work: Path) -> None:
    f = work / "t.txt"
    f.write_bytes(b"x")
    ok(gateway.sftp_batch("alice@acme", f"mkdir links\nput {f} links/t.txt\n"))
    r = gateway.sftp_batch("alice@acme", "ln -s links/t.txt links/s\n")
    assert r.returncode != 0
    assert "unsupported" in (r.stdout + r.stderr).lower()
    r = gateway.sftp_batch("alice@acme", "ln links/t.txt links/h\n")
    assert r.returncode != 0
    out = ok(gateway.sftp_batch("alice@acme", "ls links\n"))
    assert "links/s" not in out and "links/h" not in out


def test_df_reports_quota(gateway: Gateway, work: Path) -> None:
    out = ok(gateway.sftp_batch("erin@tight", "df\n"))
    row = out.strip().splitlines()[-1].split()
    assert int(row[0]) == 3 * 1024  # 3 MiB quota in 1K blocks, not the host disk


def test_put_preserves_mtime(gateway: Gateway, work: Path) -> None:
    import os

    f = work / "old.txt"
    f.write_bytes(b"old")
    os.utime(f, (1_000_000_000, 1_000_000_000))
    ok(gateway.sftp_batch("alice@acme", f"mkdir times\nput -p {f} times/old.txt\n"))
    out = ok(gateway.sftp_batch("alice@acme", "ls -l times\n"))
    assert "2001" in out  # 1e9 s = Sep 2001


def _killed(args: list[str], env: dict[str, str], input_text: str, after: float,
            started: Path | None = None) -> None:
    """Run a rate-limited transfer and kill it mid-way (once ``started`` has bytes)."""
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(input_text)
    proc.stdin.close()
    if started is not None:
        assert wait_until(lambda: started.exists() and started.stat().st_size > 0, 30)
    time.sleep(after)
    assert proc.poll() is None, "transfer finished before it could be killed"
    proc.kill()
    proc.wait()


def test_reput_after_killed_transfer(gateway: Gateway, work: Path) -> None:
    src = make_file(work / "r.bin", 40 * MiB, seed=3)
    head = work / "head.bin"
    head.write_bytes(src.read_bytes()[: 10 * MiB])
    ok(gateway.sftp_batch("alice@acme", f"mkdir resume\nput {head} resume/r.bin\n"))
    # a rate-limited put of the whole file, killed mid-way: the 10 MiB version stays
    args = [need("sftp"), *SSH_OPTS, "-l", "80000", "-P", str(gateway.port), "-b", "-",
            "alice@acme@127.0.0.1"]
    _killed(args, gateway.ssh_env(PW), f"put {src} resume/r.bin\n", after=2.0)
    ok(gateway.sftp_batch("alice@acme", f"get resume/r.bin {work / 'after-kill.bin'}\n"))
    assert sha256_file(work / "after-kill.bin") == sha256_file(head)
    ok(gateway.sftp_batch("alice@acme", f"reput {src} resume/r.bin\n"))
    ok(gateway.sftp_batch("alice@acme", f"get resume/r.bin {work / 'full.bin'}\n"))
    assert sha256_file(work / "full.bin") == sha256_file(src)


def test_reget_after_killed_transfer(gateway: Gateway, work: Path) -> None:
    src = make_file(work / "g.bin", 40 * MiB, seed=4)
    ok(gateway.sftp_batch("alice@acme", f"mkdir reget\nput {src} reget/g.bin\n"))
    dst = work / "g-local.bin"
    args = [need("sftp"), *SSH_OPTS, "-l", "80000", "-P", str(gateway.port), "-b", "-",
            "alice@acme@127.0.0.1"]
    _killed(args, gateway.ssh_env(PW), f"get reget/g.bin {dst}\n", after=1.0, started=dst)
    partial = dst.stat().st_size
    assert 0 < partial < src.stat().st_size
    ok(gateway.sftp_batch("alice@acme", f"reget reget/g.bin {dst}\n"))
    assert sha256_file(dst) == sha256_file(src)


@pytest.mark.slow
def test_5000_entries(gateway: Gateway, work: Path) -> None:
    n = 5000
    mk = "mkdir many\n" + "".join(f"mkdir many/d{i:05d}\n" for i in range(n))
    ok(gateway.sftp_batch("alice@acme", mk))
    out = ok(gateway.sftp_batch("alice@acme", "ls -1 many\n"))
    names = [x for x in out.splitlines() if x.startswith("many/d")]
    assert len(names) == n
    ren = "".join(f"rename many/d{i:05d} many/e{i:05d}\n" for i in range(n))
    ok(gateway.sftp_batch("alice@acme", ren))
    out = ok(gateway.sftp_batch("alice@acme", "ls -l many\n"))
    assert sum(1 for x in out.splitlines() if x.split() and x.split()[-1].startswith("e")) == n
    rm = "".join(f"rmdir many/e{i:05d}\n" for i in range(n)) + "rmdir many\n"
    ok(gateway.sftp_batch("alice@acme", rm))
    assert "many" not in ok(gateway.sftp_batch("alice@acme", "ls\n"))
