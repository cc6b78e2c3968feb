"""The catalog work of one small SFTP upload, counted on a running gateway.

The served worker writes one line per catalog transaction and statement to
``$LUMANOX_CATALOG_TRACE`` (``gateway.catalog.db.trace``, as ``bench/count_statements.py``
uses it). A 4 KiB put (open, write, close) must cost one read transaction (the open's
checks, with the quota numbers the write is checked against) and one write transaction
(the commit): no separate quota read at the write or at the commit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Gateway, start_gateway, stop

PUTS = 5
PAYLOAD = bytes(range(256)) * 16  # 4 KiB


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Gateway, Path]]:
    trace = tmp_path / "catalog.trace"
    monkeypatch.setenv("LUMANOX_CATALOG_TRACE", str(trace))
    gw = start_gateway(tmp_path / "gw")
    try:
        yield gw, trace
    finally:
        stop(gw.proc)


def _transactions(lines: list[str]) -> list[list[str]]:
    """Trace lines grouped per transaction; reads of the audit tables alone (the export
    follower and the checkpoint, on their own clock) are left out."""
    txs: list[list[str]] = []
    for line in lines:
        what = line.split(" ", 1)[1]
        if what.startswith("tx "):
            txs.append([what])
        elif txs and what.startswith(("sql ", "raw ")):
            txs[-1].append(what)
    return [tx for tx in txs
            if not (tx[0] == "tx read" and all("audit_" in s for s in tx[1:]))]


def test_small_put_takes_one_read_and_one_write_transaction(
        traced: tuple[Gateway, Path]) -> None:
    gw, trace = traced
    client = gw.paramiko("alice@acme")
    try:
        sftp = client.open_sftp()
        with sftp.open("warm.bin", "wb") as f:  # login, key unwrap, root id: not counted
            f.write(PAYLOAD)
        time.sleep(0.3)
        start = len(trace.read_text().splitlines())
        for i in range(PUTS):
            with sftp.open(f"f{i}.bin", "wb") as f:
                f.write(PAYLOAD)
            time.sleep(0.2)  # spread over more than a second: no cached quota snapshot
        time.sleep(0.3)
        lines = trace.read_text().splitlines()[start:]
        assert sftp.open("f3.bin").read() == PAYLOAD
    finally:
        client.close()
    txs = _transactions(lines)
    assert [tx[0] for tx in txs] == ["tx read", "tx write"] * PUTS, "\n".join(
        " | ".join(tx) for tx in txs)
