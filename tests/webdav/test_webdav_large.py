"""PROPFIND Depth 1 of a 10,000-entry folder: complete, paged from the catalog, and the
server's memory does not grow from one request to the next."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import Gateway

ENTRIES = 10_000


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


@pytest.mark.slow
def test_propfind_depth1_ten_thousand_entries(gateway: Gateway) -> None:
    from gateway import admin
    from gateway.config import load_config
    from gateway.core import Core

    with Core.open(load_config(gateway.config)) as core:
        s = core.session(admin.principal_for(core, "acme", "alice"), "test", "127.0.0.1")
        s.mkdir("/ten-k", exist_ok=True)
        s.write_file("/ten-k/a-file.txt", b"content")
        for i in range(ENTRIES - 1):
            s.mkdir(f"/ten-k/entry {i:05d}", exist_ok=True)
    c = gateway.client()
    workers = [int(x) for x in Path(f"/proc/{gateway.proc.pid}/task/{gateway.proc.pid}"
                                     "/children").read_text().split()]
    sizes, times = [], []
    for _ in range(6):
        t = time.monotonic()
        r = c.request("PROPFIND", "/ten-k/", headers={"Depth": "1"})
        times.append(time.monotonic() - t)
        assert r.status == 207
        assert len(re.findall(rb"<(?:\w+:)?href>", r.body)) == ENTRIES + 1
        sizes.append(rss_kib(workers))
    assert b"entry 09998" in r.body and b"a-file.txt" in r.body
    # both workers have served it by now: later requests must not grow memory further
    assert sizes[-1] - sizes[2] < 20 * 1024, sizes
    assert min(times) < 10, times
    print(f"PROPFIND Depth 1 of {ENTRIES + 1}: {min(times):.2f} s; worker RSS KiB {sizes}")
