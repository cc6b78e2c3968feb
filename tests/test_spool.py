"""The encrypted scratch spool: random-access semantics, holes, no names, no plaintext."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from gateway.crypto import spool as spool_mod
from gateway.crypto.spool import EncryptedSpool

MARKER = b"LUMANOX-PLAINTEXT-MARKER-7f3a9c"


def physical_bytes(spool: EncryptedSpool) -> bytes:
    """Everything the spool's file holds on disk."""
    fd = spool.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0)


def read_back(spool: EncryptedSpool, offset: int = 0, length: int | None = None) -> bytes:
    buf = bytearray(spool.size + 10 if length is None else length)
    got = spool.readinto(offset, memoryview(buf))
    return bytes(buf[:got])


# --- model-based -------------------------------------------------------------------------
class SpoolMachine(RuleBasedStateMachine):
    """Random pwrite / readinto / truncate against a bytearray model."""

    directory: Path

    def __init__(self) -> None:
        super().__init__()
        self.spool = EncryptedSpool(self.directory)
        self.model = bytearray()

    @rule(
        offset=st.one_of(st.integers(0, 3000), st.integers(0, 200_000)),
        size=st.one_of(st.integers(0, 64), st.integers(0, 5000), st.integers(0, 70_000)),
        seed=st.integers(0, 2**16),
    )
    def pwrite(self, offset: int, size: int, seed: int) -> None:
        data = random.Random(seed).randbytes(size)
        self.spool.pwrite(offset, data)
        if size and offset > len(self.model):
            self.model.extend(bytes(offset - len(self.model)))
        self.model[offset : offset + size] = data

    @rule(offset=st.integers(0, 220_000), length=st.integers(0, 150_000))
    def readinto(self, offset: int, length: int) -> None:
        buf = bytearray(length)
        got = self.spool.readinto(offset, buf)
        expected = self.model[offset : offset + length]
        assert got == len(expected)
        assert buf[:got] == expected

    @rule(size=st.integers(0, 220_000))
    def truncate(self, size: int) -> None:
        self.spool.truncate(size)
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))

    @invariant()
    def same_size(self) -> None:
        assert self.spool.size == len(self.model)

    def teardown(self) -> None:
        assert read_back(self.spool) == bytes(self.model)
        self.spool.close()


@pytest.mark.parametrize("compact_slack", [spool_mod._COMPACT_SLACK, 1000])
def test_spool_behaves_like_a_bytearray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compact_slack: int
) -> None:
    monkeypatch.setattr(spool_mod, "_COMPACT_SLACK", compact_slack)
    monkeypatch.setattr(SpoolMachine, "directory", tmp_path, raising=False)
    run_state_machine_as_test(
        SpoolMachine, settings=settings(max_examples=60, stateful_step_count=30, deadline=None)
    )
    assert list(tmp_path.iterdir()) == []


# --- holes -------------------------------------------------------------------------------
def test_holes_read_as_zeros(tmp_path: Path) -> None:
    with EncryptedSpool(tmp_path) as spool:
        spool.pwrite(100_003, b"tail")
        assert spool.size == 100_007
        assert read_back(spool) == bytes(100_003) + b"tail"
        spool.truncate(200_000)
        assert read_back(spool, 100_000, 20) == b"\0\0\0tail" + bytes(13)
        assert os.fstat(spool.fileno()).st_size == 4  # holes take no space


def test_truncated_data_does_not_come_back(tmp_path: Path) -> None:
    with EncryptedSpool(tmp_path) as spool:
        spool.pwrite(0, b"x" * 5000)
        spool.truncate(10)
        spool.pwrite(3000, b"y")
        assert read_back(spool) == b"x" * 10 + bytes(2990) + b"y"
        spool.truncate(0)
        spool.truncate(20)
        assert read_back(spool) == bytes(20)


def test_large_writes_cross_chunk_boundaries(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(3 * spool_mod._CHUNK + 17)
    with EncryptedSpool(tmp_path) as spool:
        spool.pwrite(7, data)
        spool.pwrite(spool_mod._CHUNK - 3, b"abcdef")
        expected = bytearray(bytes(7) + data)
        expected[spool_mod._CHUNK - 3 : spool_mod._CHUNK + 3] = b"abcdef"
        assert read_back(spool) == bytes(expected)
        assert read_back(spool, 5, 9) == bytes(expected[5:14])


def test_compaction_bounds_the_file_and_keeps_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_mod, "_COMPACT_SLACK", 4096)
    rng = random.Random(9)
    model = bytearray(20_000)
    with EncryptedSpool(tmp_path) as spool:
        spool.truncate(len(model))
        for _ in range(300):
            offset = rng.randrange(0, 19_000)
            data = rng.randbytes(rng.randrange(1, 1000))
            spool.pwrite(offset, data)
            model[offset : offset + len(data)] = data
            assert os.fstat(spool.fileno()).st_size <= 2 * len(model) + 4096 + 1000
        assert read_back(spool) == bytes(model)
    assert list(tmp_path.iterdir()) == []


# --- confidentiality and no names -------------------------------------------------------
def test_no_file_name_while_open_or_after_close(tmp_path: Path) -> None:
    spool = EncryptedSpool(tmp_path)
    spool.pwrite(0, MARKER)
    assert list(tmp_path.iterdir()) == []
    assert os.readlink(f"/proc/self/fd/{spool.fileno()}").endswith("(deleted)")
    fd = spool.fileno()
    spool.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OSError):
        os.fstat(fd)


def test_fallback_without_o_tmpfile_leaves_no_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    with EncryptedSpool(tmp_path) as spool:
        spool.pwrite(3, MARKER)
        assert list(tmp_path.iterdir()) == []
        assert read_back(spool) == bytes(3) + MARKER
    assert list(tmp_path.iterdir()) == []


def test_plaintext_never_reaches_the_file(tmp_path: Path) -> None:
    with EncryptedSpool(tmp_path) as spool:
        for offset in (0, 1, 15, 16, 17, 65_535, 1_000_003):
            spool.pwrite(offset, MARKER * 50)
        spool.pwrite(500, MARKER)  # overwrite
        disk = physical_bytes(spool)
        assert MARKER not in disk
        assert MARKER[:8] not in disk
        assert bytes(64) not in disk  # holes are not stored, so no zero runs


def test_overwrites_never_reuse_keystream(tmp_path: Path) -> None:
    first, second = b"A" * 4096, b"B" * 4096
    with EncryptedSpool(tmp_path) as spool:
        spool.pwrite(1000, first)
        spool.pwrite(1000, second)
        disk = physical_bytes(spool)
        assert len(disk) == 8192
        xor_disk = bytes(a ^ b for a, b in zip(disk[:4096], disk[4096:], strict=True))
        xor_plain = bytes(a ^ b for a, b in zip(first, second, strict=True))
        assert xor_disk != xor_plain
        assert read_back(spool) == bytes(1000) + second


def test_closed_spool_refuses_calls(tmp_path: Path) -> None:
    spool = EncryptedSpool(tmp_path)
    spool.close()
    spool.close()
    assert spool.closed
    for call in (
        lambda: spool.pwrite(0, b"x"),
        lambda: spool.readinto(0, bytearray(1)),
        lambda: spool.truncate(0),
        spool.fileno,
    ):
        with pytest.raises(ValueError):
            call()


def test_bad_arguments(tmp_path: Path) -> None:
    with EncryptedSpool(tmp_path) as spool:
        with pytest.raises(ValueError):
            spool.pwrite(-1, b"x")
        with pytest.raises(ValueError):
            spool.readinto(-1, bytearray(1))
        with pytest.raises(ValueError):
            spool.truncate(-1)
        spool.pwrite(10, b"")  # an empty write does not extend
        assert spool.size == 0
        assert spool.readinto(0, bytearray(4)) == 0
