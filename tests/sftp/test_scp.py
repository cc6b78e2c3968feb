"""OpenSSH ``scp``: default (SFTP) mode and legacy ``-O``, up and down, per tenant policy."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .conftest import PW, SSH_OPTS, Gateway, make_file, need, sha256_file

MiB = 1024 * 1024


@pytest.mark.parametrize("legacy", [False, True], ids=["sftp-mode", "legacy-O"])
def test_scp_up_and_down(gateway: Gateway, work: Path, legacy: bool) -> None:
    src = make_file(work / "s.bin", 5 * MiB + 123, seed=11)
    folder = f"scp-{'legacy' if legacy else 'sftp'}"
    gateway.sftp_batch("alice@acme", f"mkdir {folder}\n")
    # exit code 0 matters: without an exit-status OpenSSH scp exits 1 even on success
    up = gateway.scp(str(src), gateway.remote("alice@acme", f"{folder}/s.bin"), legacy=legacy)
    assert up.returncode == 0, up.stderr
    down = gateway.scp(gateway.remote("alice@acme", f"{folder}/s.bin"), str(work / "d.bin"),
                       legacy=legacy)
    assert down.returncode == 0, down.stderr
    assert sha256_file(work / "d.bin") == sha256_file(src)


def test_scp_recursive_legacy(gateway: Gateway, work: Path) -> None:
    tree = work / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("b")
    gateway.sftp_batch("alice@acme", "mkdir scptree\n")
    r = gateway.scp("-r", "-p", str(tree), gateway.remote("alice@acme", "scptree/"),
                    legacy=True)
    assert r.returncode == 0, r.stderr
    back = work / "back"
    r = gateway.scp("-r", gateway.remote("alice@acme", "scptree/tree"), str(back), legacy=True)
    assert r.returncode == 0, r.stderr
    assert (back / "sub" / "b.txt").read_text() == "b"


def test_legacy_scp_refused_where_tenant_disallows(gateway: Gateway, work: Path) -> None:
    src = work / "x.txt"
    src.write_text("x")
    r = gateway.scp(str(src), gateway.remote("dave@noscp", "x.txt"), legacy=True)
    assert r.returncode != 0
    assert "not allowed" in r.stderr
    # the default (SFTP) mode is sftp, which this tenant allows
    r = gateway.scp(str(src), gateway.remote("dave@noscp", "x.txt"))
    assert r.returncode == 0, r.stderr
    denied = [e for e in gateway.audit_events()
              if e.get("action") == "login" and e.get("protocol") == "scp"
              and e.get("result") == "denied"]
    assert denied


def test_legacy_scp_killed_upload_keeps_previous(gateway: Gateway, work: Path) -> None:
    old = work / "old.bin"
    old.write_bytes(b"previous version\n")
    gateway.sftp_batch("alice@acme", "mkdir scpkill\n")
    assert gateway.scp(str(old), gateway.remote("alice@acme", "scpkill/f.bin"),
                       legacy=True).returncode == 0
    big = make_file(work / "big.bin", 60 * MiB, seed=12)
    args = [need("scp"), *SSH_OPTS, "-O", "-l", "80000", "-P", str(gateway.port), str(big),
            gateway.remote("alice@acme", "scpkill/f.bin")]
    proc = subprocess.Popen(args, env=gateway.ssh_env(PW), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(2.0)
    assert proc.poll() is None
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    r = gateway.scp(gateway.remote("alice@acme", "scpkill/f.bin"), str(work / "after.bin"))
    assert r.returncode == 0, r.stderr
    assert (work / "after.bin").read_bytes() == b"previous version\n"


def test_tenant_allowing_only_scp_gets_legacy_scp_but_not_sftp(gateway: Gateway,
                                                               work: Path) -> None:
    src = make_file(work / "only.bin", 100_000, seed=3)
    up = gateway.scp(str(src), gateway.remote("frank@scponly", "only.bin"), legacy=True)
    assert up.returncode == 0, up.stderr
    down = gateway.scp(gateway.remote("frank@scponly", "only.bin"), str(work / "back.bin"),
                       legacy=True)
    assert down.returncode == 0 and sha256_file(work / "back.bin") == sha256_file(src)
    r = gateway.sftp_batch("frank@scponly", "ls\n")
    assert r.returncode != 0  # the sftp subsystem is refused on the same login
    modern = gateway.scp(str(src), gateway.remote("frank@scponly", "x.bin"), legacy=False)
    assert modern.returncode != 0  # scp in SFTP mode is SFTP
