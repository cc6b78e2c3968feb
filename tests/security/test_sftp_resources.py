"""Attack tests: one SFTP login must not exhaust the worker's descriptors or memory.

Issue #9.11: the open-file limit was per channel and channels were unbounded, and each
write handle could hold 32 MiB of out-of-order writes (plus 8 MiB of write-behind) in
RAM: 12 handles took 358 MiB. Limits are now per SSH connection: channels, handles and
the bytes buffered in memory for writes (beyond that, writes spill to the encrypted
spool file).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import asyncssh
import pytest

from gateway.config import SFTPSection
from tests.security.conftest import PW, SecGateway

pytestmark = pytest.mark.timeout(300)

MIB = 1024 * 1024
LIMITS = SFTPSection()


def _connect(gw: SecGateway, login: str = "alice@acme") -> asyncssh.SSHClientConnection:
    return asyncssh.connect("127.0.0.1", gw.sftp_port, username=login, password=PW,
                            known_hosts=None, client_keys=None, agent_path=None,
                            preferred_auth="password")


# --- process memory ---------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


def sftp_worker_pid(gw: SecGateway) -> int:
    """The SFTP worker: serve -> SFTP front-end (its pid in serve's pid file) -> worker."""
    state = json.loads((gw.data_dir / "serve.pid").read_text())
    front_end = state["front_ends"]["sftp"]["pid"]
    assert front_end in _children(state["pid"]), (front_end, state)
    workers = _children(front_end)
    assert len(workers) == 1, workers  # the harness runs one worker
    return workers[0]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


# --- channels ---------------------------------------------------------------------------
def test_channels_per_connection_are_limited(secgw: SecGateway) -> None:
    limit = LIMITS.max_channels_per_connection

    async def attack() -> tuple[int, str]:
        async with _connect(secgw) as conn:
            clients = []
            refused = ""
            for _ in range(limit + 5):
                try:
                    clients.append(await conn.start_sftp_client())
                except (asyncssh.ChannelOpenError, asyncssh.SFTPError) as exc:
                    refused = str(exc)
                    break
            opened = len(clients)
            # a channel closed frees its slot
            clients.pop().exit()
            await asyncio.sleep(0.3)
            again = await conn.start_sftp_client()
            assert await again.exists("/") is True
            return opened, refused

    opened, refused = asyncio.run(attack())
    assert opened == limit
    assert "too many channels" in refused
    events = secgw.wait_audit(action="channel", result="denied")
    assert events and events[-1]["user"] == "alice"


# --- handles ----------------------------------------------------------------------------
def test_open_handles_are_limited_per_connection_not_per_channel(secgw: SecGateway) -> None:
    limit = LIMITS.max_handles_per_connection

    async def attack() -> tuple[int, int, str]:
        async with _connect(secgw) as conn:
            first = await conn.start_sftp_client()
            async with first.open("/handles.txt", "wb") as f:
                await f.write(b"x")
            held = [await first.open("/handles.txt", "rb") for _ in range(limit)]
            second = await conn.start_sftp_client()
            refused = ""
            extra = []
            for _ in range(5):
                try:
                    extra.append(await second.open("/handles.txt", "rb"))
                except asyncssh.SFTPError as exc:
                    refused = exc.reason
                    break
            n_extra = len(extra)
            await held.pop().close()
            (await second.open("/handles.txt", "rb"))  # a slot is free again
            return len(held) + 1, n_extra, refused

    held, extra, refused = asyncio.run(attack())
    assert held == limit
    assert extra == 0, f"a second channel opened {extra} more handles past the limit"
    assert "too many open files" in refused
    events = secgw.wait_audit(action="open", result="denied")
    assert any("handle limit" in (e.get("reason") or "") for e in events)


def test_directory_handles_count_against_the_same_limit(secgw: SecGateway) -> None:
    """Directory handles hold listing pages in memory: stock asyncssh kept any number."""
    limit = LIMITS.max_handles_per_connection

    async def attack() -> tuple[int, str, str]:
        async with _connect(secgw, "bob@acme") as conn:
            first = await conn.start_sftp_client()
            held = []
            for _ in range(limit):
                held.append(await first._handler.opendir(b"/"))
            second = await conn.start_sftp_client()
            file_refused = dir_refused = ""
            try:
                await (await second.open("/dir-limit.txt", "wb")).close()
            except asyncssh.SFTPError as exc:
                file_refused = exc.reason
            try:
                await second.listdir("/")
            except asyncssh.SFTPError as exc:
                dir_refused = exc.reason
            await first._handler.close(held.pop())
            assert await second.listdir("/") is not None  # a slot is free again
            return len(held) + 1, file_refused, dir_refused

    held, file_refused, dir_refused = asyncio.run(attack())
    assert held == limit
    assert "too many open files" in file_refused
    assert "too many open files" in dir_refused
    events = secgw.wait_audit(action="list", result="denied", user="bob")
    assert any("handle limit" in (e.get("reason") or "") for e in events)


# --- memory -----------------------------------------------------------------------------
def _block(i: int) -> bytes:
    """The content of MiB number ``i`` of every test file (distinct per block)."""
    return hashlib.shake_256(f"block-{i}".encode()).digest(MIB)


def test_out_of_order_writes_do_not_fill_memory(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """12 files written with a gap at the start: everything after the gap waits for it.
    Before the fix the worker's RSS grew by ~358 MiB; now the buffered bytes are bounded
    per connection and the rest goes to the encrypted spool. Every file still commits
    with exactly the bytes written."""
    gw = make_gateway()
    handles, blocks = 12, 33
    expected = hashlib.sha256(b"".join(_block(i) for i in range(blocks))).hexdigest()
    pid = sftp_worker_pid(gw)

    async def attack() -> int:
        async with _connect(gw) as conn:
            sftp = await conn.start_sftp_client()
            assert await sftp.exists("/")  # warm up: first login and session done
            time.sleep(0.2)
            _reset_peak(pid)
            before = _status_kib(pid, "VmRSS")
            files = [await sftp.open(f"/ooo-{n}.bin", "wb") for n in range(handles)]

            async def fill(f: asyncssh.SFTPClientFile) -> None:
                for i in range(1, blocks):  # everything but the first MiB
                    await f.write(_block(i), i * MIB)

            await asyncio.gather(*(fill(f) for f in files))
            for f in files:  # still open: the gap is not filled yet
                await f.fsync()
            peak = _status_kib(pid, "VmHWM") - before
            for f in files:  # fill the gap and commit
                await f.write(_block(0), 0)
                await f.close()
            for n in (0, handles - 1):
                async with sftp.open(f"/ooo-{n}.bin", "rb") as f:
                    got = await f.read()
                assert hashlib.sha256(got).hexdigest() == expected
            return peak

    growth_kib = asyncio.run(attack())
    print(f"worker peak RSS growth during the attack: {growth_kib / 1024:.1f} MiB")
    assert growth_kib < 64 * 1024, f"worker RSS grew by {growth_kib / 1024:.0f} MiB"


# --- many tiny scattered writes -----------------------------------------------------------
async def _scatter(f: asyncssh.SFTPClientFile, count: int, batch: int = 1000) -> None:
    """``count`` one-byte writes at odd offsets (every other byte), pipelined."""
    for base in range(0, count, batch):
        await asyncio.gather(*(f.write(b"x", 2 * i + 1)
                               for i in range(base, min(count, base + batch))))


def test_tiny_scattered_writes_stay_cheap(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """Each buffered out-of-order write was checked against every other one (quadratic)
    and cost ~130 bytes of RAM for one byte of budget. Now at most 1024 writes wait in
    the reorder buffer, each charged with its overhead, and the rest go to the spool:
    80,000 one-byte writes are answered within 100 s (several minutes before) and commit."""
    gw = make_gateway()
    count = 80_000

    async def attack() -> float:
        async with _connect(gw) as conn:
            sftp = await conn.start_sftp_client()
            f = await sftp.open("/scatter.bin", "wb")
            started = time.monotonic()
            await _scatter(f, count)
            await f.close()
            elapsed = time.monotonic() - started
            async with sftp.open("/scatter.bin", "rb") as r:
                data = await r.read()
            assert data == b"\0x" * count
            return elapsed

    elapsed = asyncio.run(asyncio.wait_for(attack(), 280))
    print(f"{count} one-byte scattered writes: {elapsed:.1f} s")
    assert elapsed < 100


def test_spool_fragmentation_is_bounded_by_the_budget(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """Past the reorder buffer, every scattered write is one extent of the spool's map
    (RAM); extents are charged to the connection's budget and the upload that would
    exceed it fails (the previous version stays), instead of growing without bound."""
    gw = make_gateway(sftp_extra="max_write_buffer_bytes_per_connection = 1048576")

    async def attack() -> str:
        async with _connect(gw) as conn:
            sftp = await conn.start_sftp_client()
            f = await sftp.open("/fragmented.bin", "wb")
            try:
                await _scatter(f, 20_000)
                await f.close()
            except asyncssh.SFTPError as exc:
                assert not await sftp.exists("/fragmented.bin")
                return exc.reason
            return ""

    reason = asyncio.run(asyncio.wait_for(attack(), 240))
    assert "too many scattered writes" in reason
