"""asyncssh rough edges not covered elsewhere (see also test_scp, test_clients,
test_auth_extension): read clamping and the statvfs/limits extensions as clients see them."""

from __future__ import annotations

from pathlib import Path

import paramiko
from paramiko.sftp import CMD_DATA, CMD_READ, int64

from .conftest import PW, Gateway, make_file

MiB = 1024 * 1024


def _client(gateway: Gateway) -> paramiko.SSHClient:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
    c.connect("127.0.0.1", gateway.port, username="alice@acme", password=PW,
              allow_agent=False, look_for_keys=False, timeout=20)
    return c


def test_read_lengths_are_clamped(gateway: Gateway, work: Path) -> None:
    src = make_file(work / "c.bin", 12 * MiB, seed=31)
    c = _client(gateway)
    try:
        sftp = c.open_sftp()
        sftp.put(str(src), "clamp.bin")
        with sftp.open("clamp.bin", "rb") as f:
            t, msg = sftp._request(CMD_READ, f.handle, int64(0), 32 * MiB)  # type: ignore[attr-defined]
            assert t == CMD_DATA
            data = msg.get_string()
        assert 0 < len(data) <= 4 * MiB  # the advertised limits@openssh.com read length
        assert data == src.read_bytes()[: len(data)]
    finally:
        c.close()


def test_statvfs_is_the_quota_not_the_disk(gateway: Gateway) -> None:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
    c.connect("127.0.0.1", gateway.port, username="erin@tight", password=PW,
              allow_agent=False, look_for_keys=False, timeout=20)
    try:
        sftp = c.open_sftp()
        _, msg = sftp._request(  # type: ignore[attr-defined]
            paramiko.sftp.CMD_EXTENDED, "statvfs@openssh.com", "/")
        bsize, frsize, blocks = msg.get_int64(), msg.get_int64(), msg.get_int64()
        assert frsize * blocks == 3 * MiB
        assert bsize == frsize
    finally:
        c.close()


def test_random_offset_out_of_order_writes_and_truncate(gateway: Gateway) -> None:
    c = _client(gateway)
    try:
        sftp = c.open_sftp()
        chunks = {i: bytes([65 + i]) * 40_000 for i in range(10)}
        with sftp.open("ooo.bin", "wb") as f:
            for i in (3, 0, 9, 5, 1, 7, 2, 8, 4, 6):  # out of order, some backwards
                f.seek(i * 40_000)
                f.write(chunks[i])
        whole = b"".join(chunks[i] for i in range(10))
        assert sftp.open("ooo.bin").read() == whole
        with sftp.open("ooo.bin", "r+") as f:  # in-place update keeps the rest
            f.seek(100_000)
            f.write(b"ZZZZ")
        expected = whole[:100_000] + b"ZZZZ" + whole[100_004:]
        assert sftp.open("ooo.bin").read() == expected
        sftp.truncate("ooo.bin", 50_000)  # setstat size
        assert sftp.stat("ooo.bin").st_size == 50_000
        assert sftp.open("ooo.bin").read() == expected[:50_000]
        sftp.utime("ooo.bin", (1_500_000_000, 1_600_000_000))  # setstat mtime
        assert sftp.stat("ooo.bin").st_mtime == 1_600_000_000
        sftp.chmod("ooo.bin", 0o600)  # accepted (ignored), never an error
    finally:
        c.close()


def test_posix_rename_overwrites_plain_rename_does_not(gateway: Gateway, work: Path) -> None:
    a, b = work / "a.txt", work / "b.txt"
    a.write_text("A")
    b.write_text("B")
    r = gateway.sftp_batch("alice@acme", f"mkdir ren\nput {a} ren/a\nput {b} ren/b\n")
    assert r.returncode == 0, r.stderr
    r = gateway.sftp_batch("alice@acme", "rename -l ren/a ren/b\n")  # legacy: no overwrite
    assert r.returncode != 0
    r = gateway.sftp_batch("alice@acme", f"rename ren/a ren/b\nget ren/b {work / 'x'}\n")
    assert r.returncode == 0, r.stderr  # posix-rename@openssh.com replaces the target
    assert (work / "x").read_text() == "A"


def test_fsync_and_copy_data(gateway: Gateway, work: Path) -> None:
    import asyncio

    import asyncssh

    src = make_file(work / "cp.bin", 3 * MiB + 7, seed=33)
    r = gateway.sftp_batch("alice@acme", f"put -f {src} cp.bin\n")  # -f: fsync@openssh.com
    assert r.returncode == 0, r.stderr

    async def copy() -> bytes:
        async with asyncssh.connect("127.0.0.1", gateway.port, username="alice@acme",
                                    password=PW, known_hosts=None,
                                    preferred_auth="password") as conn, \
                conn.start_sftp_client() as sftp:
            async with sftp.open("cp.bin", "rb") as s, sftp.open("cp2.bin", "wb") as d:
                await sftp.remote_copy(s, d)  # copy-data extension, committed on close
            async with sftp.open("cp2.bin", "rb") as f:
                return await f.read()

    assert asyncio.run(copy()) == src.read_bytes()


def test_wire_names_match_asyncssh_encoding() -> None:
    """The pre-encoded readdir entries are byte-identical to asyncssh's v3 encoding."""
    import asyncssh

    from gateway.sftp.listing import DIR_MODE, FILE_MODE, WireName

    for perm, size in ((FILE_MODE, 12345678901), (DIR_MODE, 0)):
        ftype = asyncssh.FILEXFER_TYPE_DIRECTORY if perm == DIR_MODE else \
            asyncssh.FILEXFER_TYPE_REGULAR
        attrs = asyncssh.SFTPAttrs(type=ftype, size=size, uid=0, gid=0, permissions=perm,
                                   atime=1_700_000_000, mtime=1_700_000_000, nlink=1)
        ours = WireName(b"f\xc3\xa9.txt", b"-rw-r--r-- long", perm, size, 1_700_000_000)
        theirs = asyncssh.SFTPName(b"f\xc3\xa9.txt", b"-rw-r--r-- long", attrs).encode(3)
        assert ours.encode(3) == theirs
        # the SCP source reads ``attrs``: built on demand, equal to the real thing
        assert asyncssh.SFTPName(b"x", b"", ours.attrs).encode(3) == \
            asyncssh.SFTPName(b"x", b"", attrs).encode(3)
        assert ours.attrs.type == ftype


def test_open_files_are_limited_per_connection(gateway: Gateway, work: Path) -> None:
    from gateway.config import SFTPSection

    max_open_files = SFTPSection().max_handles_per_connection

    c = _client(gateway)
    try:
        sftp = c.open_sftp()
        with sftp.open("many-handles.txt", "w") as f:
            f.write(b"x")
        handles = [sftp.open("many-handles.txt", "r") for _ in range(max_open_files)]
        try:
            sftp.open("many-handles.txt", "r")
            raise AssertionError("expected the open-files limit")
        except OSError as exc:
            assert "too many open files" in str(exc)
        handles.pop().close()
        sftp.open("many-handles.txt", "r").close()  # a slot is free again
        for h in handles:
            h.close()
    finally:
        c.close()


class _CountsFormatting:
    """A log argument that counts how often it is turned into text."""

    def __init__(self) -> None:
        self.formatted = 0

    def __str__(self) -> str:
        self.formatted += 1
        return "arg"

    def __len__(self) -> int:  # a packet's size goes into its log line
        self.formatted += 1
        return 3


def test_asyncssh_debug_messages_are_formatted_only_when_debug_is_on() -> None:
    """asyncssh formats the arguments of every debug message (one per request, one per
    listed name, one per SSH packet) before its level check; quietlog checks first."""
    import logging

    from asyncssh.logging import SSHLogger
    from asyncssh.packet import SSHPacketLogger

    from gateway.sftp import quietlog

    logger = SSHLogger().get_child("sftp", "conn=1, chan=0")
    quietlog.install()

    class Packets(SSHPacketLogger):
        @property
        def logger(self) -> SSHLogger:
            return logger

    level = logger.logger.getEffectiveLevel()
    try:
        logger.logger.setLevel(logging.WARNING)
        arg, packet = _CountsFormatting(), _CountsFormatting()
        logger.debug1("Sending %s", [arg])
        Packets()._log_packet("Sent", 94, None, packet, "")  # type: ignore[arg-type]
        assert (arg.formatted, packet.formatted) == (0, 0)
        logger.logger.setLevel(logging.DEBUG)
        logger.debug1("Sending %s", [arg])
        assert arg.formatted == 1
    finally:
        logger.logger.setLevel(level)
