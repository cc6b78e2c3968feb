"""Property test: any sequence of writes and truncations equals a plain bytearray model.

This drives both write paths (stream with reorder buffer, and the spool) and the
copying of the previous version for resumed/in-place writes.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, example, given, settings, strategies as st

from gateway.session import Session

KIB = 1024
_counter = itertools.count()

write_op = st.tuples(st.just("w"), st.integers(0, 300 * KIB), st.integers(1, 70 * KIB))
trunc_op = st.tuples(st.just("t"), st.integers(0, 300 * KIB), st.just(0))
ops = st.lists(st.one_of(write_op, write_op, write_op, trunc_op), min_size=1, max_size=12)


def apply_model(model: bytearray, op: tuple[str, int, int], fill: int) -> None:
    kind, a, b = op
    if kind == "w":
        if a > len(model):
            model.extend(bytes(a - len(model)))
        model[a : a + b] = bytes([fill]) * b
    else:
        del model[a:]
        model.extend(bytes(max(0, a - len(model))))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# overlapping writes ahead of the stream position, and a rewrite behind it
@example(base_len=0, truncate=True, sequence=[("w", 100, 50), ("w", 120, 50)],
         sequential_first=False)
@example(base_len=1000, truncate=False, sequence=[("w", 500, 10), ("w", 100, 10)],
         sequential_first=False)
@given(base_len=st.integers(0, 200 * KIB), truncate=st.booleans(), sequence=ops,
       sequential_first=st.booleans())
def test_writer_matches_model(session: Session, base_len: int, truncate: bool,
                              sequence: list[tuple[str, int, int]],
                              sequential_first: bool) -> None:
    path = f"/model-{next(_counter)}"
    base = bytes((i * 7) % 251 for i in range(base_len))
    session.write_file(path, base)
    model = bytearray(b"" if truncate else base)
    if sequential_first:  # a typical upload: in-order chunks, then whatever comes
        sequence = [("w", i * 32 * KIB, 32 * KIB) for i in range(4)] + sequence
    with session.open_write(path, truncate=truncate) as writer:
        for n, op in enumerate(sequence):
            fill = 1 + n % 250
            if op[0] == "w":
                writer.write(bytes([fill]) * op[2], offset=op[1])
            else:
                writer.truncate(op[1])
            apply_model(model, op, fill)
    assert session.read_file(path) == bytes(model)
    assert session.stat(path).size == len(model)
