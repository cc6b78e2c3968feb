"""The blob store contract: every registered store must pass these, through its public
interface only (``gateway.backends.BlobStore``), against the real store.

A store joins by being registered (``gateway.backends.registry``) and by giving
``STORE_FACTORIES`` a way to build a fresh, empty instance of it for a test (see
docs/backends.md).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.backends import BlobStore, TempSweep, load, registry
from gateway.config import config_from_dict
from gateway.errors import BackendError, BlobNotFound
from tests.s3 import moto_server


def _local(tmp: Path) -> BlobStore:
    cfg = config_from_dict({"storage": {"backend": "local", "local": {"path": str(tmp / "b")}}},
                           base_dir=tmp, source="<contract>")
    return load(cfg)


def _s3(tmp: Path) -> BlobStore:
    """A fresh bucket on a real S3 endpoint (moto's server on 127.0.0.1), credentials from
    a shared-credentials file; the smallest part size S3 allows so multipart is exercised."""
    server = moto_server.shared()
    options = server.options(server.new_bucket(), prefix="blobs/", part_size=5 * 1024 * 1024,
                             parts_in_flight=2, read_ahead=64 * 1024,
                             credentials_file=str(moto_server.write_credentials(tmp / "c")))
    cfg = config_from_dict({"storage": {"backend": "s3", "s3": options}},
                           base_dir=tmp, source="<contract>")
    return load(cfg)


#: backend name -> a fresh empty store in a scratch folder; a new store adds its line here
STORE_FACTORIES: dict[str, Callable[[Path], BlobStore]] = {"local": _local, "s3": _s3}


def test_every_registered_store_is_in_the_contract_suite() -> None:
    assert set(registry.known()) <= set(STORE_FACTORIES), "add the new store to the suite"


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    s = STORE_FACTORIES[request.param](tmp_path)
    s.check()
    assert s.name == request.param
    yield s


def new_id() -> str:
    return secrets.token_hex(16)


def put(store: BlobStore, blob_id: str, data: bytes) -> int:
    sink = store.create(blob_id)
    sink.write(data)
    return sink.commit()


def read_all(store: BlobStore, blob_id: str) -> bytes:
    with store.open(blob_id) as src:
        buf = bytearray(src.size)
        assert src.readinto(0, memoryview(buf)) == src.size
        return bytes(buf)


def ids(store: BlobStore) -> set[str]:
    return {b.blob_id for b in store.enumerate()}


def test_put_then_read_back(store: BlobStore) -> None:
    blob_id, data = new_id(), secrets.token_bytes(1000)
    assert put(store, blob_id, data) == 1000
    assert read_all(store, blob_id) == data


def test_empty_blob(store: BlobStore) -> None:
    blob_id = new_id()
    assert put(store, blob_id, b"") == 0
    assert read_all(store, blob_id) == b""
    assert blob_id in ids(store)


def test_streaming_write_of_many_pieces(store: BlobStore) -> None:
    blob_id = new_id()
    pieces = [secrets.token_bytes(n) for n in (1, 65536, 7, 3 * 1024 * 1024 + 5, 0, 4096)]
    sink = store.create(blob_id)
    for piece in pieces:
        sink.write(memoryview(piece))
    assert sink.commit() == sum(map(len, pieces))
    assert read_all(store, blob_id) == b"".join(pieces)


def test_ranged_reads(store: BlobStore) -> None:
    blob_id, data = new_id(), secrets.token_bytes(200_000)
    put(store, blob_id, data)
    with store.open(blob_id) as src:
        assert src.size == len(data)
        for offset, length in ((0, 1), (1, 10), (65535, 65537), (199_990, 10), (123, 0)):
            buf = bytearray(length)
            assert src.readinto(offset, memoryview(buf)) == length
            assert bytes(buf) == data[offset:offset + length]
        tail = bytearray(100)  # short only at the end
        assert src.readinto(199_950, memoryview(tail)) == 50
        assert bytes(tail[:50]) == data[-50:]
        assert src.readinto(len(data), memoryview(bytearray(10))) == 0
        assert src.readinto(len(data) + 1000, memoryview(bytearray(10))) == 0


def test_delete(store: BlobStore) -> None:
    keep, gone = new_id(), new_id()
    put(store, keep, b"keep")
    put(store, gone, b"gone")
    store.delete(gone)
    with pytest.raises(BlobNotFound):
        store.open(gone)
    assert ids(store) == {keep}
    assert read_all(store, keep) == b"keep"


def test_missing_keys(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.open(new_id())
    store.delete(new_id())  # deleting a missing blob is not an error
    blob_id = new_id()
    put(store, blob_id, b"x")
    store.delete(blob_id)
    store.delete(blob_id)


@pytest.mark.parametrize("bad", ["", "../" + "0" * 29, "0" * 31, "0" * 33, "G" * 32,
                                 "ABCDEF" + "0" * 26, "00/" + "0" * 29, "0" * 31 + "\n",
                                 "0" * 32 + "\n"])
def test_malformed_ids_are_refused_everywhere(store: BlobStore, bad: str) -> None:
    for op in (store.create, store.open, store.delete):
        with pytest.raises(BackendError):
            op(bad)


def test_enumerate_lists_exactly_the_committed_blobs(store: BlobStore) -> None:
    assert ids(store) == set()
    sizes = {new_id(): n for n in (0, 1, 5000, 70_000)}
    before = time.time()
    for blob_id, n in sizes.items():
        put(store, blob_id, b"z" * n)
    infos = {b.blob_id: b for b in store.enumerate()}
    assert {k: v.size for k, v in infos.items()} == sizes
    for info in infos.values():
        assert info.modified.tzinfo is not None
        assert abs(info.modified.timestamp() - before) < 600


def test_aborted_writer_leaves_nothing_visible(store: BlobStore) -> None:
    blob_id = new_id()
    sink = store.create(blob_id)
    sink.write(b"half of it")
    assert ids(store) == set()
    with pytest.raises(BlobNotFound):
        store.open(blob_id)
    sink.abort()
    sink.abort()  # idempotent
    assert ids(store) == set()
    with pytest.raises(BlobNotFound):
        store.open(blob_id)
    swept = store.sweep_temp(0, dry_run=False)
    assert swept is None or swept.removed == 0  # abort already cleaned up


def test_writer_failing_mid_stream_leaves_nothing(store: BlobStore) -> None:
    blob_id = new_id()

    def upload() -> None:
        sink = store.create(blob_id)
        try:
            sink.write(b"a" * 100_000)
            raise ConnectionResetError("client went away")
        except BaseException:
            sink.abort()
            raise

    with pytest.raises(ConnectionResetError):
        upload()
    assert ids(store) == set()
    with pytest.raises(BlobNotFound):
        store.open(blob_id)


def test_abandoned_writer_is_invisible_and_swept(store: BlobStore) -> None:
    """A writer that never commits nor aborts (a crashed process) leaves no visible blob;
    a store with temp sweeping removes its leftovers once old enough, keeps young ones.
    It wrote more than a store may buffer in memory (an S3 part is at least 5 MiB), so
    every store has begun to send it somewhere."""
    blob_id = new_id()
    sink = store.create(blob_id)
    written = 0
    for _ in range(96):  # 6 MiB in the blob reader's 64 KiB segments
        written += len(piece := b"crash" * 13107 + b"!")
        sink.write(piece)
    assert ids(store) == set()
    with pytest.raises(BlobNotFound):
        store.open(blob_id)
    young = store.sweep_temp(3600, dry_run=False)
    if young is None:
        return  # the store keeps no temp state of its own
    assert young == TempSweep(removed=0, removed_bytes=0, kept_young=1)
    time.sleep(0.05)
    dry = store.sweep_temp(0, dry_run=True)
    assert (dry.removed, dry.kept_young) == (1, 0) and dry.removed_bytes <= written
    real = store.sweep_temp(0, dry_run=False)  # bytes may have grown: a part in flight
    assert (real.removed, real.kept_young) == (1, 0) and real.removed_bytes <= written
    assert store.sweep_temp(0, dry_run=False) == TempSweep(0, 0, 0)
    assert ids(store) == set()


def test_use_after_commit_or_abort_is_an_error(store: BlobStore) -> None:
    sink = store.create(new_id())
    sink.write(b"1")
    sink.commit()
    with pytest.raises(BackendError):
        sink.write(b"2")
    with pytest.raises(BackendError):
        sink.commit()
    sink.abort()  # after commit: a no-op that keeps the blob
    assert len(ids(store)) == 1
    aborted = store.create(new_id())
    aborted.abort()
    with pytest.raises(BackendError):
        aborted.write(b"x")
    with pytest.raises(BackendError):
        aborted.commit()
    assert len(ids(store)) == 1


def _write_concurrently(store: BlobStore, jobs: list[tuple[str, bytes]], chunk: int) -> None:
    """Stream each (blob id, data) from its own thread, all started together; every
    writer must commit without an error."""
    start = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def writer(blob_id: str, data: bytes) -> None:
        try:
            sink = store.create(blob_id)
            start.wait(timeout=30)
            for i in range(0, len(data), chunk):
                sink.write(data[i:i + chunk])
            sink.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []


def test_concurrent_writers_of_different_blobs(store: BlobStore) -> None:
    blobs = {new_id(): secrets.token_bytes(50_000 + i) for i in range(16)}
    _write_concurrently(store, list(blobs.items()), 4096)
    assert ids(store) == set(blobs)
    for blob_id, data in blobs.items():
        assert read_all(store, blob_id) == data


def test_concurrent_writers_of_one_key_last_commit_wins_whole(store: BlobStore) -> None:
    """Same id: each commit replaces the blob atomically; a reader sees one writer's whole
    content, never a mix, and no temp state is left behind."""
    blob_id = new_id()
    contents = [bytes([i]) * 300_000 for i in range(8)]
    _write_concurrently(store, [(blob_id, c) for c in contents], 65536)
    assert read_all(store, blob_id) in contents
    assert ids(store) == {blob_id}
    swept = store.sweep_temp(0, dry_run=True)
    assert swept is None or swept.removed == 0


def test_an_open_reader_survives_delete_or_replace_or_fails_cleanly(store: BlobStore) -> None:
    blob_id, data = new_id(), secrets.token_bytes(10_000)
    put(store, blob_id, data)
    src = store.open(blob_id)
    try:
        put(store, blob_id, b"new")
        store.delete(blob_id)
        buf = bytearray(100)
        try:
            n = src.readinto(0, memoryview(buf))
        except BlobNotFound:
            return
        assert bytes(buf[:n]) == data[:n]
    finally:
        src.close()
        src.close()  # idempotent


def test_free_space_capability(store: BlobStore) -> None:
    free = store.free_bytes()
    assert free is None or (isinstance(free, int) and free >= 0)


def test_describe_names_the_store_without_secrets(store: BlobStore) -> None:
    desc = store.describe()
    assert desc["backend"] == store.name
    assert all(isinstance(v, str | int | bool) for v in desc.values())
