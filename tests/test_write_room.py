"""The core refuses a file's growth past the quota or storage.max_file_bytes before it
writes the bytes (issue #9.3), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway import admin
from gateway.core import Core
from gateway.errors import FileTooLarge, QuotaExceeded

MiB = 1024 * 1024


def _stored_bytes(core: Core) -> int:
    """Bytes in the blob store and the scratch folder (what a hole would fill)."""
    total = 0
    for folder in (core.config.blob_dir, core.config.tmp_dir):
        for root, _dirs, files in os.walk(folder):
            total += sum(os.lstat(os.path.join(root, f)).st_blocks * 512 for f in files)
    return total


@pytest.fixture
def small(core: Core):  # type: ignore[no-untyped-def]
    admin.create_tenant(core, "small", quota_bytes=1 * MiB)
    admin.create_user(core, "small", "u")
    return core.session(admin.principal_for(core, "small", "u"), "test", "127.0.0.1")


def test_a_write_far_past_the_quota_is_refused_before_anything_is_written(
        core: Core, small) -> None:  # type: ignore[no-untyped-def]
    before = _stored_bytes(core)
    writer = small.open_write("/far.bin")
    with pytest.raises(QuotaExceeded):
        writer.write(b"x", 512 * MiB)
    assert writer.closed
    with pytest.raises(QuotaExceeded):  # the handle stays refused
        writer.close()
    assert _stored_bytes(core) - before < MiB
    assert small.usage().used_bytes == 0
    core.audit.flush()
    from gateway.audit import query_events

    with core.catalog.read() as conn:
        writes = [e for e in query_events(conn, action="write") if e["path"] == "/far.bin"]
    assert [(e["result"], e["reason"].split(":")[0]) for e in writes] == [("denied", "quota")]


def test_an_extending_truncate_past_the_quota_is_refused(core: Core, small) -> None:  # type: ignore[no-untyped-def]
    small.write_file("/a.bin", b"abc")
    before = _stored_bytes(core)
    with pytest.raises(QuotaExceeded, match="would be 536870912 bytes"):  # before writing
        small.truncate("/a.bin", 512 * MiB)
    assert _stored_bytes(core) - before < MiB
    assert small.read_file("/a.bin") == b"abc"


def test_growth_inside_the_quota_works_and_the_hole_is_charged(small) -> None:  # type: ignore[no-untyped-def]
    with small.open_write("/hole.bin") as w:
        w.write(b"end", MiB // 2)
    assert small.read_file("/hole.bin") == bytes(MiB // 2) + b"end"
    assert small.usage().used_bytes == MiB // 2 + 3
    small.truncate("/hole.bin", MiB)  # exactly the quota
    assert small.stat("/hole.bin").size == MiB
    with pytest.raises(QuotaExceeded):
        small.truncate("/hole.bin", MiB + 1)


def test_replacing_a_file_counts_the_bytes_it_frees(small) -> None:  # type: ignore[no-untyped-def]
    small.write_file("/big.bin", bytes(900 * 1024))
    with small.open_write("/big.bin") as w:  # 900 KiB in use, but this replaces them
        w.write(bytes(1000 * 1024))
    assert small.stat("/big.bin").size == 1000 * 1024


def test_max_file_bytes_refuses_growth_and_announced_length(tmp_path: Path, db_url: str,
                                                            config_factory) -> None:  # type: ignore[no-untyped-def]
    cfg = config_factory(tmp_path, db_url)
    cfg.storage.max_file_bytes = 2 * MiB
    with Core.open(cfg) as core:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "u")
        s = core.session(admin.principal_for(core, "acme", "u"), "test", "127.0.0.1")
        with pytest.raises(FileTooLarge, match="larger than 2097152 bytes"):
            s.open_write("/x.bin", expected_length=2 * MiB + 1)
        w = s.open_write("/y.bin")
        with pytest.raises(FileTooLarge):
            w.write(b"x", 2 * MiB)
        s.write_file("/z.bin", b"z")
        with pytest.raises(FileTooLarge):
            s.truncate("/z.bin", 2 * MiB + 1)
        s.truncate("/z.bin", 2 * MiB)
        assert s.stat("/z.bin").size == 2 * MiB


def test_max_file_bytes_is_validated_and_defaults_to_64_gib(tmp_path: Path) -> None:
    from gateway.config import Config, config_from_dict
    from gateway.errors import ConfigError

    assert Config().storage.max_file_bytes == 64 * 1024 ** 3
    assert config_from_dict({"storage": {"max_file_bytes": 0}}, base_dir=tmp_path,
                            source="t.toml").storage.max_file_bytes == 0  # no limit
    with pytest.raises(ConfigError, match=r"storage\.max_file_bytes: must be 0"):
        config_from_dict({"storage": {"max_file_bytes": -1}}, base_dir=tmp_path,
                         source="t.toml")
