"""The chunked AEAD blob format: round trips, ranges and every tamper case's error class."""

from __future__ import annotations

import os
import random
import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gateway.crypto import blobformat as bf
from gateway.crypto.blobformat import (
    HEADER_PREFIX_LEN,
    SEGMENT_SIZE,
    BlobDecryptor,
    BlobEncryptor,
    BlobHeader,
    BytesSource,
    decrypt_bytes,
    encrypt_bytes,
    plaintext_size,
    stored_size,
)
from gateway.errors import (
    BlobFormatError,
    BlobHeaderMismatch,
    BlobIntegrityError,
    BlobTruncated,
    SegmentOutOfOrder,
    SegmentTampered,
)

S = SEGMENT_SIZE
F = bf.STORED_SEGMENT_SIZE
TRAILER = bf.TRAILER_SIZE
TENANT = uuid.UUID("6a1f3c52-0d0e-4c53-9a7e-1f2d3c4b5a69").bytes
OTHER_TENANT = uuid.UUID("0b9e4c1a-77aa-4f0e-8d3c-5e6f7a8b9c0d").bytes
KEY = bytes(range(32))
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EDGE_SIZES = [0, 1, 15, S - 1, S, S + 1, 2 * S - 1, 2 * S, 2 * S + 1, 3 * S, 5 * S + 7]
BIG_SIZES = [3 << 20, (3 << 20) - 1, (3 << 20) + 1]
sizes = st.one_of(st.sampled_from(EDGE_SIZES + BIG_SIZES), st.integers(0, 4 * S + 100))
small_sizes = st.one_of(st.sampled_from(EDGE_SIZES), st.integers(0, 3 * S + 100))


# --- helpers -----------------------------------------------------------------------------
def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def make_header(
    blob_id: bytes | None = None, tenant_id: bytes = TENANT, key_version: int = 7
) -> BlobHeader:
    wrapped = b"\x01" * 12 + os.urandom(48)  # stands in for keyring output
    return BlobHeader(tenant_id, blob_id or uuid.uuid4().bytes, key_version, wrapped)


def seal_blob(data: bytes, key: bytes = KEY, **kw: object) -> tuple[BlobHeader, bytes]:
    header = make_header(**kw).sealed(key)  # type: ignore[arg-type]
    return header, encrypt_bytes(header, key, data)


def open_blob(
    blob: bytes,
    header: BlobHeader,
    key: bytes = KEY,
    *,
    stored: int | None = None,
    tenant_id: bytes = TENANT,
    blob_id: bytes | None = None,
    source: object | None = None,
) -> BlobDecryptor:
    """Open ``blob`` the way the core does: decode its header, expect the catalog's ids."""
    found = BlobHeader.decode(blob)
    header_len = BlobHeader.read_length(blob[:HEADER_PREFIX_LEN])
    return BlobDecryptor(
        source or BytesSource(blob),  # type: ignore[arg-type]
        key,
        found,
        header_len,
        len(blob) if stored is None else stored,
        tenant_id,
        blob_id or header.blob_id,
    )


def read_all(blob: bytes, header: BlobHeader, **kw: object) -> bytes:
    return b"".join(open_blob(blob, header, **kw).iter_range(0))  # type: ignore[arg-type]


def seg_offset(header: BlobHeader, index: int) -> int:
    return header.encoded_len + index * F


def flip(blob: bytes, position: int, bit: int = 0) -> bytes:
    out = bytearray(blob)
    out[position] ^= 1 << bit
    return bytes(out)


class CountingSource(BytesSource):
    """Records every range read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def readinto(self, offset: int, buf: memoryview) -> int:
        self.reads.append((offset, len(buf)))
        return super().readinto(offset, buf)


# --- round trips -------------------------------------------------------------------------
@FAST
@given(size=sizes, seed=st.integers(0, 2**32), data=st.data())
def test_random_ranges_read_back_the_plaintext_slice(size: int, seed: int, data) -> None:
    plain = payload(size, seed)
    header, blob = seal_blob(plain)
    assert len(blob) == stored_size(size, header.encoded_len)
    dec = open_blob(blob, header)
    assert dec.plaintext_size == size
    assert dec.segment_count == size // S + 1
    for _ in range(6):
        offset = data.draw(st.integers(0, size + 10))
        length = data.draw(st.integers(0, min(size + 10, 3 * S)))
        assert dec.read(offset, length) == plain[offset : offset + length]
        buf = bytearray(length + 3)
        got = dec.readinto(offset, memoryview(buf)[:length])
        assert bytes(buf[:got]) == plain[offset : offset + length]
    chunk = data.draw(st.integers(max(1, size // 64), 3 * S))  # at most ~64 chunks
    assert b"".join(dec.iter_range(0, None, chunk=chunk)) == plain


@FAST
@given(size=sizes, seed=st.integers(0, 2**32), data=st.data())
def test_writes_in_random_chunks_give_the_same_content(size: int, seed: int, data) -> None:
    plain = payload(size, seed)
    header = make_header().sealed(KEY)
    out = bytearray()
    calls: list[int] = []

    def sink(view: memoryview) -> None:
        calls.append(len(view))
        out.extend(view)

    enc = BlobEncryptor(header, KEY, sink)
    assert bytes(out) == header.encode()
    pos = 0
    kinds = [bytes, bytearray, memoryview]
    small = st.integers(1, 300) if size <= 4 * S else st.integers(S // 2, S + 300)
    while pos < size:
        n = data.draw(st.one_of(small, st.integers(1, 3 * S)))
        piece = plain[pos : pos + n]
        enc.write(data.draw(st.sampled_from(kinds))(piece))
        pos += len(piece)
        assert enc.plaintext_size == pos
        assert len(calls) - 1 == pos // S  # full segments leave as soon as complete
    assert enc.finish() == size
    assert enc.stored_size == len(out) == stored_size(size, header.encoded_len)
    assert decrypt_bytes(bytes(out), KEY, TENANT, header.blob_id) == plain


def test_empty_plaintext_is_one_empty_final_segment() -> None:
    header, blob = seal_blob(b"")
    assert len(blob) == header.encoded_len + bf.SEGMENT_OVERHEAD + TRAILER
    dec = open_blob(blob, header)
    assert dec.plaintext_size == 0
    assert dec.read(0, 10) == b""
    assert dec.readinto(5, bytearray(4)) == 0
    dec.verify()


def test_non_byte_memoryview_formats_are_accepted() -> None:
    plain = payload(S + 40)
    header = make_header().sealed(KEY)
    out = bytearray()
    enc = BlobEncryptor(header, KEY, out.extend)
    enc.write(memoryview(plain).cast("I"))
    enc.finish()
    assert decrypt_bytes(bytes(out), KEY, TENANT, header.blob_id) == plain


def test_unsealed_header_is_sealed_by_the_encryptor() -> None:
    header = make_header()
    out = bytearray()
    enc = BlobEncryptor(header, KEY, out.extend)
    enc.write(b"abc")
    enc.finish()
    assert enc.header.is_sealed and not header.is_sealed
    assert BlobHeader.decode(out) == enc.header
    with pytest.raises(ValueError):
        header.encode()


def test_encryptor_refuses_use_after_finish_and_bad_keys() -> None:
    enc = BlobEncryptor(make_header(), KEY, lambda _view: None)
    enc.finish()
    with pytest.raises(ValueError):
        enc.write(b"x")
    with pytest.raises(ValueError):
        enc.finish()
    with pytest.raises(ValueError):
        BlobEncryptor(make_header(), KEY[:16], lambda _view: None)


def test_reads_fetch_only_the_overlapping_segments() -> None:
    plain = payload(20 * S + 5)
    header, blob = seal_blob(plain)
    source = CountingSource(blob)
    dec = open_blob(blob, header, source=source)
    assert dec.read(7 * S + 100, 50) == plain[7 * S + 100 : 7 * S + 150]
    assert source.reads == [(seg_offset(header, 7), F)]
    source.reads.clear()
    assert dec.read(7 * S + 150, 50) == plain[7 * S + 150 : 7 * S + 200]
    assert source.reads == []  # same segment: served from the decrypted buffer
    assert dec.read(3 * S - 1, S + 2) == plain[3 * S - 1 : 4 * S + 1]
    assert source.reads == [(seg_offset(header, 2), 3 * F)]


def test_sizes_map_both_ways_and_impossible_sizes_are_truncation() -> None:
    header_len = 136
    for n in [*range(0, 70), *range(S - 40, S + 40), 5 * S, 5 * S + 1, 7 * S - 1]:
        assert plaintext_size(stored_size(n, header_len), header_len) == n
    assert stored_size(0) == bf.SEGMENT_OVERHEAD + TRAILER
    for bad in [header_len, header_len + 35, header_len + F + 8, header_len + 2 * F + 30]:
        with pytest.raises(BlobTruncated):
            plaintext_size(bad, header_len)


# --- header encoding ---------------------------------------------------------------------
def test_header_layout_is_as_documented() -> None:
    header = make_header(key_version=0x01020304).sealed(KEY)
    raw = header.encode()
    assert raw[:4] == b"LMXB" and raw[4] == 1 and raw[5] == 0
    assert struct.unpack(">I", raw[6:10])[0] == S
    assert raw[10:26] == TENANT and raw[26:42] == header.blob_id
    assert raw[42:46] == b"\x01\x02\x03\x04"
    assert struct.unpack(">H", raw[46:48])[0] == 60
    assert raw[48:108] == header.wrapped_key and raw[108:] == header.seal
    assert len(raw) == header.encoded_len == BlobHeader.read_length(raw[:HEADER_PREFIX_LEN])
    assert BlobHeader.decode(raw + b"trailing bytes") == header
    assert "wrapped_key" not in repr(header)


@pytest.mark.parametrize(
    ("position", "value", "error"),
    [
        (0, ord("X"), BlobFormatError),  # magic
        (4, 2, BlobFormatError),  # version
        (5, 1, BlobFormatError),  # flags
        (7, 2, BlobFormatError),  # segment size
    ],
)
def test_header_decode_rejects_bad_fields(position: int, value: int, error: type) -> None:
    raw = bytearray(make_header().sealed(KEY).encode())
    raw[position] = value
    with pytest.raises(error):
        BlobHeader.decode(raw)


def test_short_header_is_truncation_and_garbage_is_format_error() -> None:
    raw = make_header().sealed(KEY).encode()
    for cut in (0, 3, HEADER_PREFIX_LEN - 1, HEADER_PREFIX_LEN, len(raw) - 1):
        with pytest.raises(BlobTruncated):
            BlobHeader.decode(raw[:cut])
    with pytest.raises(BlobFormatError):
        BlobHeader.decode(b"PK\x03\x04" + raw[4:])


def test_header_field_validation() -> None:
    with pytest.raises(ValueError):
        BlobHeader(b"short", uuid.uuid4().bytes, 1, b"")
    with pytest.raises(ValueError):
        BlobHeader(TENANT, uuid.uuid4().bytes, 2**32, b"")
    with pytest.raises(ValueError):
        BlobHeader(TENANT, uuid.uuid4().bytes, 1, bytes(65536))


# --- tamper cases ------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(size=small_sizes, data=st.data())
def test_flipped_bit_in_a_segment_is_tampering(size: int, data) -> None:
    plain = payload(size, size)
    header, blob = seal_blob(plain)
    position = data.draw(st.integers(header.encoded_len, len(blob) - TRAILER - 1))
    bad = flip(blob, position, data.draw(st.integers(0, 7)))
    with pytest.raises(SegmentTampered) as info:
        read_all(bad, header)
    index = (position - header.encoded_len) // F
    assert f"segment {index}" in str(info.value)
    dec = open_blob(bad, header)
    with pytest.raises(SegmentTampered):
        dec.read(index * S, 1)
    if index > 0:  # other segments stay readable
        assert dec.read(0, 1) == plain[:1]


def test_flipped_bit_in_the_trailer_is_a_format_error() -> None:
    header, blob = seal_blob(payload(S + 3))
    for position in range(len(blob) - TRAILER, len(blob)):
        with pytest.raises(BlobFormatError):
            read_all(flip(blob, position), header)


def _header_error(position: int) -> type[BlobIntegrityError]:
    if 10 <= position < 42:  # tenant id, blob id
        return BlobHeaderMismatch
    return BlobFormatError  # magic..segment size by decode, the rest by the seal


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_modified_header_is_detected(data) -> None:
    header, blob = seal_blob(payload(3 * S + 11))  # longer than any possible header
    position = data.draw(st.integers(0, header.encoded_len - 1))
    bad = flip(blob, position, data.draw(st.integers(0, 7)))
    with pytest.raises(_header_error(position)):
        read_all(bad, header)


def test_resealed_header_does_not_match_the_segments() -> None:
    header, blob = seal_blob(payload(2 * S + 9))
    resealed = header.sealed(KEY)  # same fields, new seal: a different header
    bad = resealed.encode() + blob[header.encoded_len :]
    with pytest.raises(SegmentTampered):
        read_all(bad, header)


def test_wrong_data_key_fails_on_the_header() -> None:
    header, blob = seal_blob(payload(100))
    with pytest.raises(BlobFormatError):
        open_blob(blob, header, key=bytes(32))


@FAST
@given(size=small_sizes, data=st.data())
def test_truncation_is_reported_as_truncation(size: int, data) -> None:
    header, blob = seal_blob(payload(size, 1))
    boundaries = [seg_offset(header, k) for k in range(size // S + 1)]
    cut = data.draw(
        st.one_of(
            st.sampled_from(boundaries),
            st.integers(header.encoded_len, len(blob) - 1),
        )
    )
    short = blob[:cut]
    with pytest.raises(BlobTruncated):  # size as the store reports it
        read_all(short, header)
    with pytest.raises(BlobTruncated):  # size as the catalog recorded it
        read_all(short, header, stored=len(blob))


def test_truncation_inside_the_header() -> None:
    header, blob = seal_blob(payload(10))
    for cut in (0, 20, header.encoded_len - 1):
        with pytest.raises(BlobTruncated):
            decrypt_bytes(blob[:cut], KEY, TENANT, header.blob_id)


def _swap(blob: bytes, header: BlobHeader, i: int, j: int) -> bytes:
    out = bytearray(blob)
    a, b = seg_offset(header, i), seg_offset(header, j)
    out[a : a + F], out[b : b + F] = blob[b : b + F], blob[a : a + F]
    return bytes(out)


@FAST
@given(full=st.integers(2, 6), tail=st.integers(0, S - 1), data=st.data())
def test_reordered_segments_are_out_of_order(full: int, tail: int, data) -> None:
    header, blob = seal_blob(payload(full * S + tail, full))
    i = data.draw(st.integers(0, full - 1))
    j = data.draw(st.integers(0, full - 1).filter(lambda x: x != i))
    bad = _swap(blob, header, i, j)
    with pytest.raises(SegmentOutOfOrder) as info:
        read_all(bad, header)
    assert f"segment {max(i, j)} is stored at position {min(i, j)}" in str(info.value)


def test_reorder_diagnosis_is_bounded_on_big_blobs() -> None:
    """Past 4096 segments only +-64 neighbours are tried; beyond that it is tampering."""
    count = 4200
    header = make_header().sealed(KEY)
    keep = {10, 50, 4000}
    segments: dict[int, bytes] = {}
    chunks: list[bytes] = []

    def sink(view: memoryview) -> None:
        index = len(chunks) - 1
        chunks.append(b"")
        if index < 0 or index in keep:
            segments[index] = bytes(view)

    enc = BlobEncryptor(header, KEY, sink)
    zero = memoryview(bytes(S))
    for _ in range(count):
        enc.write(zero)
    enc.finish()
    total = enc.stored_size
    for position, moved, error in [(10, 50, SegmentOutOfOrder), (10, 4000, SegmentTampered)]:
        blob = bytearray(header.encoded_len + (position + 1) * F)
        blob[: header.encoded_len] = segments[-1]
        blob[seg_offset(header, position) :] = segments[moved]
        dec = open_blob(bytes(blob), header, stored=total)
        with pytest.raises(error):
            dec.read(position * S, 10)


def test_segment_from_another_blob_of_the_same_tenant_is_tampering() -> None:
    header_a, blob_a = seal_blob(payload(3 * S + 5, 1))
    other_key = os.urandom(32)
    _header_b, blob_b = seal_blob(payload(3 * S + 5, 2), key=other_key)
    _header_c, blob_c = seal_blob(payload(3 * S + 5, 3))  # same key, other blob id
    for donor in (blob_b, blob_c):
        for index in (0, 1, 3):
            bad = bytearray(blob_a)
            a = seg_offset(header_a, index)
            length = F if index < 3 else len(blob_a) - a - TRAILER
            bad[a : a + length] = donor[a : a + length]
            with pytest.raises(SegmentTampered):
                read_all(bytes(bad), header_a)


def test_header_moved_to_another_blob_is_a_mismatch() -> None:
    header_a, blob_a = seal_blob(payload(S + 5, 1))
    header_b, blob_b = seal_blob(payload(S + 5, 2))
    moved = blob_b[: header_b.encoded_len] + blob_a[header_a.encoded_len :]
    with pytest.raises(BlobHeaderMismatch) as info:
        read_all(moved, header_a)  # the catalog expects blob a
    assert "blob id" in str(info.value)
    with pytest.raises(SegmentTampered):  # expecting b: its header, a's segments
        read_all(moved, header_b)


def test_wrong_tenant_is_a_mismatch_and_errors_leak_no_key() -> None:
    header, blob = seal_blob(payload(10))
    with pytest.raises(BlobHeaderMismatch) as info:
        read_all(blob, header, tenant_id=OTHER_TENANT)
    assert "tenant" in str(info.value)
    bad = flip(blob, header.encoded_len + 20)
    with pytest.raises(SegmentTampered) as tampered:
        read_all(bad, header)
    for exc in (info.value, tampered.value):
        text = str(exc) + repr(exc)
        assert KEY.hex() not in text and repr(KEY) not in text
        assert header.wrapped_key.hex() not in text


def test_appended_bytes_are_detected() -> None:
    plain = payload(2 * S + 100)
    header, blob = seal_blob(plain)
    with pytest.raises(BlobTruncated):
        read_all(blob + b"extra", header)
    with pytest.raises(SegmentTampered) as info:  # the old final segment now reads as full
        read_all(blob + bytes(F), header)
    assert "segment 2" in str(info.value)
    dec = open_blob(blob + b"extra", header)
    assert dec.read(10, 100) == plain[10:110]  # ranges before the end stay readable
