"""``storage migrate`` checks every copy before the catalog switches: a copy damaged on
the target stops the run with the source untouched (audited as an error); on a terminal
it draws a progress bar. A write refused by data residency over real WebDAV and SFTP."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest
from cli_runner import CLI, clean_env
from storage_helpers import (
    blob_stores,
    core_of,
    events,
    make_env,
    served,
    session,
    store_dir,
    stored_ids,
)

from gateway.errors import BlobIntegrityError
from gateway.storage_migrate import migrate as mig


def test_a_damaged_copy_is_never_switched_to(tmp_path: Path, db_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_env(tmp_path, db_url)
    with core_of(env) as core:
        session(core).write_file("/a.bin", os.urandom(200_000))
    (blob_id,) = blob_stores(env)
    real_copy = mig._copy

    def copy_then_damage(src, dst, bid, *hook):  # type: ignore[no-untyped-def]
        n = real_copy(src, dst, bid, *hook)
        (f,) = [p for p in store_dir(env, "ch1").rglob(bid)]
        data = bytearray(f.read_bytes())
        data[100_000] ^= 1  # one bit flipped on the target's disk
        f.write_bytes(bytes(data))
        return n

    monkeypatch.setattr(mig, "_copy", copy_then_damage)
    with core_of(env) as core, pytest.raises(BlobIntegrityError):
        mig.migrate(core, "acme", "ch1")
    assert blob_stores(env) == {blob_id: "default"}  # not switched
    assert stored_ids(env, "default") == {blob_id} and stored_ids(env, "ch1") == set()
    with core_of(env) as core:
        assert len(session(core).read_file("/a.bin")) == 200_000
    assert [e["result"] for e in events(env, "storage-migrate")] == ["error"]


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    with core_of(env) as core:
        s = session(core)
        for i in range(3):
            s.write_file(f"/f{i}.bin", os.urandom(50_000))
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([*CLI, "storage", "migrate", "--tenant", "acme", "--to", "ch1"],
                            cwd=env.base, env=clean_env(LUMANOX_CONFIG=str(env.config),
                                                        COLUMNS="120"),
                            stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0
    os.close(primary)
    text = out.decode(errors="replace")
    assert "3/3 files" in text and "migrate" in text and "moved 3 files" in text
    assert set(blob_stores(env).values()) == {"ch1"}


def test_residency_refusal_over_webdav_and_sftp(tmp_path: Path) -> None:
    with served(tmp_path) as srv:
        srv.env.run("tenant", "set", "acme", "--store", "ch1", "--regions", "ch")
    # the operator relabels ch1's region, then starts the gateway again
    cfg = srv.env.config
    cfg.write_text(cfg.read_text().replace('region = "ch"', 'region = "us-east"'))
    srv.start()
    try:
        status, _ = srv.curl("PUT", "/x.txt", "--data-binary", "must stay out of us-east")
        assert status == 403
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
        from storage_helpers import PASSWORD

        client.connect("127.0.0.1", srv.ssh_port, username="alice@acme", password=PASSWORD,
                       allow_agent=False, look_for_keys=False, timeout=20)
        try:
            sftp = client.open_sftp()
            with pytest.raises(PermissionError), sftp.open("/y.txt", "wb") as f:
                f.write(b"nor this")
        finally:
            client.close()
    finally:
        srv.stop()
    assert blob_stores(srv.env) == {} and stored_ids(srv.env, "ch1") == set()
    denied = [e for e in events(srv.env, "write") if e["result"] == "denied"]
    assert {e["protocol"] for e in denied} == {"webdav", "sftp"}
