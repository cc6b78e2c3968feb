"""Throughput of raw AES-256-GCM vs the Lumanox blob format, on one core.

Run: .venv/bin/python bench/bench_crypto.py [--size-mib N] [--repeat R]

Raw figures encrypt 64 KiB chunks with a fixed nonce (cost of the cipher alone; never do
that with real data). Format figures include everything the format does: random nonces,
AAD updates, buffering, the header and the trailer. Each figure is the best of R runs.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cryptography
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.crypto.blobformat import (
    SEGMENT_SIZE,
    BlobDecryptor,
    BlobEncryptor,
    BlobHeader,
    BytesSource,
)

MIB = 1 << 20
TAG = 16
NONCE = bytes(12)
AAD = bytes(41)


def best_rate(nbytes: int, repeat: int, run: Callable[[], object]) -> float:
    """Best throughput of ``run`` over ``repeat`` runs, in MB/s (10**6 bytes)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return nbytes / best / 1e6


def pin_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to cpu {cpu}"


# --- raw AES-GCM -------------------------------------------------------------------------
def raw_benches(plain: memoryview, repeat: int) -> dict[str, float]:
    aead = AESGCM(os.urandom(32))
    size = len(plain)
    chunks = range(0, size, SEGMENT_SIZE)
    stored = memoryview(bytearray(size + len(chunks) * TAG))
    out = memoryview(bytearray(SEGMENT_SIZE))

    def encrypt() -> None:
        for pos in chunks:
            aead.encrypt(NONCE, plain[pos : pos + SEGMENT_SIZE], AAD)

    def encrypt_into() -> None:
        for k, pos in enumerate(chunks):
            piece = plain[pos : pos + SEGMENT_SIZE]
            dst = pos + k * TAG
            aead.encrypt_into(NONCE, piece, AAD, stored[dst : dst + len(piece) + TAG])

    encrypt_into()
    cts = [stored[p + k * TAG : p + k * TAG + SEGMENT_SIZE + TAG] for k, p in enumerate(chunks)]

    def decrypt() -> None:
        for ct in cts:
            aead.decrypt(NONCE, ct, AAD)

    def decrypt_into() -> None:
        for ct in cts:
            aead.decrypt_into(NONCE, ct, AAD, out[: len(ct) - TAG])

    return {
        "raw encrypt": best_rate(size, repeat, encrypt),
        "raw encrypt_into": best_rate(size, repeat, encrypt_into),
        "raw decrypt": best_rate(size, repeat, decrypt),
        "raw decrypt_into": best_rate(size, repeat, decrypt_into),
    }


# --- the format --------------------------------------------------------------------------
def format_benches(plain: memoryview, repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    key = os.urandom(32)
    header = BlobHeader(uuid.uuid4().bytes, uuid.uuid4().bytes, 1, os.urandom(60)).sealed(key)
    size = len(plain)
    blob = bytearray()
    BlobEncryptor(header, key, blob.extend)  # header only, to size the target buffer
    target = memoryview(bytearray(len(blob) + size + 64 * (size // SEGMENT_SIZE + 2)))

    def encrypt(write_size: int, copy: bool) -> Callable[[], object]:
        def run() -> int:
            pos = 0

            def into_buffer(view: memoryview) -> None:
                nonlocal pos
                target[pos : pos + len(view)] = view
                pos += len(view)

            enc = BlobEncryptor(header, key, into_buffer if copy else (lambda _view: None))
            for start in range(0, size, write_size):
                enc.write(plain[start : start + write_size])
            return enc.finish()

        return run

    enc_rates = {
        "BlobEncryptor, 1 MiB writes, discarding sink": best_rate(
            size, repeat, encrypt(MIB, False)
        ),
        "BlobEncryptor, 1 MiB writes, sink copies into a buffer": best_rate(
            size, repeat, encrypt(MIB, True)
        ),
        "BlobEncryptor, 32 KiB writes, discarding sink": best_rate(
            size, repeat, encrypt(32 * 1024, False)
        ),
    }

    stored = bytearray()
    enc = BlobEncryptor(header, key, stored.extend)
    enc.write(plain)
    enc.finish()
    source = BytesSource(stored)
    dec = BlobDecryptor(
        source, key, header, header.encoded_len, len(stored), header.tenant_id, header.blob_id
    )
    buf = memoryview(bytearray(MIB))
    offsets = [random.randrange(0, max(1, size - MIB)) for _ in range(max(1, size // MIB))]

    def full_read() -> None:
        for pos in range(0, size, MIB):
            dec.readinto(pos, buf)

    def random_ranges() -> None:
        for pos in offsets:
            dec.readinto(pos, buf)

    def iter_range() -> None:
        for _chunk in dec.iter_range(0, None, chunk=MIB):
            pass

    dec_rates = {
        "BlobDecryptor full read, 1 MiB readinto": best_rate(size, repeat, full_read),
        "BlobDecryptor full read, iter_range (bytes chunks)": best_rate(size, repeat, iter_range),
        "BlobDecryptor random 1 MiB ranges (unaligned)": best_rate(
            len(offsets) * MIB, repeat, random_ranges
        ),
    }
    return enc_rates, dec_rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256, help="plaintext size (MiB)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best kept)")
    args = parser.parse_args()
    pinned = pin_one_core()
    size = args.size_mib * MIB
    plain = memoryview(os.urandom(size))
    print(
        f"Lumanox blob format benchmark: {args.size_mib} MiB, 64 KiB segments, {pinned}, "
        f"Python {sys.version.split()[0]}, cryptography {cryptography.__version__}, "
        f"best of {args.repeat}"
    )
    raw = raw_benches(plain, args.repeat)
    enc_rates, dec_rates = format_benches(plain, args.repeat)
    width = 56
    for name, rate in raw.items():
        print(f"  {name:<{width}} {rate:8.0f} MB/s")
    for name, rate in enc_rates.items():
        ratio = rate / raw["raw encrypt"]
        print(f"  {name:<{width}} {rate:8.0f} MB/s  {ratio:4.2f}x raw encrypt", end="")
        print(f"  {rate / raw['raw encrypt_into']:4.2f}x raw encrypt_into")
    for name, rate in dec_rates.items():
        ratio = rate / raw["raw decrypt"]
        print(f"  {name:<{width}} {rate:8.0f} MB/s  {ratio:4.2f}x raw decrypt", end="")
        print(f"  {rate / raw['raw decrypt_into']:4.2f}x raw decrypt_into")
    main_rate = enc_rates["BlobEncryptor, 1 MiB writes, discarding sink"]
    ratio = main_rate / raw["raw encrypt"]
    verdict = "met" if ratio >= 0.7 else "NOT met"
    print(
        f"  target: format encrypt (1 MiB writes, discarding sink) >= 0.70x raw encrypt: "
        f"{verdict} ({ratio:.2f}x; {main_rate / raw['raw encrypt_into']:.2f}x encrypt_into)"
    )


if __name__ == "__main__":
    main()
