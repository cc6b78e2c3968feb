"""The metrics of processes that end: a worker killed with open sessions leaves the live
sums; and ``[metrics] enabled = false`` counts nothing at all."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.metrics.conftest import PW, serve, wait_for


def children(pid: int) -> list[int]:
    return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_killed_worker_leaves_the_sessions_sum(tmp_path: Path) -> None:
    served = serve(tmp_path, webdav_workers=1)
    try:
        client = served.paramiko("alice@acme")
        client.open_sftp().listdir("/")
        assert served.value("lumanox_sessions_open", protocol="sftp") == 1
        front_end = served.status()["front_ends"]["sftp"]["pid"]
        (worker,) = children(front_end)
        os.kill(worker, signal.SIGKILL)  # no Access.close: nothing marks it dead itself
        assert wait_for(lambda: served.value("lumanox_sessions_open", protocol="sftp") == 0)
        client.close()
        # the restarted worker counts from there on
        assert wait_for(lambda: children(front_end) and children(front_end) != [worker])
        assert wait_for(lambda: served.status()["live"]["listeners"]["sftp"]["up"])
        again = served.paramiko("bob@acme")
        again.open_sftp().listdir("/")
        assert served.value("lumanox_sessions_open", protocol="sftp", tenant="acme") == 1
        again.close()
    finally:
        assert served.stop() == 0


def test_disabled_metrics_count_nothing(tmp_path: Path) -> None:
    served = serve(tmp_path, enabled=False)
    try:
        f = tmp_path / "x.bin"
        f.write_bytes(b"x" * 100)
        assert served.curl("-u", f"alice@acme:{PW}", "-T", str(f), "URL/x.bin").stdout == "201"
        p = served.cli("metrics", ok=False)
        assert p.returncode != 0 and "metrics.enabled = false" in p.stderr
        assert not (served.cfg.data_dir / "metrics").exists()
        live = served.status()["live"]
        assert live["sessions"] is None and live["listeners"]["webdav"]["up"] is True
    finally:
        assert served.stop() == 0


def test_counters_survive_a_reload(tmp_path: Path) -> None:
    served = serve(tmp_path, webdav_workers=1)
    try:
        f = tmp_path / "r.bin"
        f.write_bytes(b"r" * 321)
        assert served.curl("-u", f"alice@acme:{PW}", "-T", str(f), "URL/r1.bin").stdout == "201"
        old = served.status()["front_ends"]["webdav"]["pid"]
        served.proc.send_signal(signal.SIGHUP)  # a new generation, fresh interpreters
        assert wait_for(lambda: "reloaded" in (tmp_path / "serve.out").read_text(), 90)
        assert served.status()["front_ends"]["webdav"]["pid"] != old
        assert served.curl("-u", f"alice@acme:{PW}", "-T", str(f), "URL/r2.bin").stdout == "201"
        assert served.value("lumanox_operations_total", protocol="webdav", action="write",
                            result="ok") == 2
        assert served.value("lumanox_transfer_bytes_total", protocol="webdav",
                            direction="in") == 2 * 321
        assert served.value("lumanox_sessions_open") == 0
    finally:
        assert served.stop() == 0
