"""A memory budget shared by several writers: content unchanged, every byte given back.

The SFTP front-end gives all write handles of one SSH connection one ``MemoryBudget``
(``[sftp] max_write_buffer_bytes_per_connection``); reorder buffers take from it and
spill to the encrypted spool when it is spent (tests/security/test_sftp_resources.py
measures the worker's memory end to end).
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings, strategies as st

from gateway.membudget import MemoryBudget
from gateway.session import Session

KIB = 1024
_counter = itertools.count()
chunks = st.lists(st.tuples(st.integers(0, 63), st.integers(1, 16)), min_size=1, max_size=20)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=chunks, second=chunks, abort_second=st.booleans())
def test_writers_share_a_budget_and_return_it(session: Session, first: list[tuple[int, int]],
                                              second: list[tuple[int, int]],
                                              abort_second: bool) -> None:
    budget = MemoryBudget(40 * KIB)
    n = next(_counter)
    writers = [session.open_write(f"/budget-{n}-a", truncate=True),
               session.open_write(f"/budget-{n}-b", truncate=True)]
    models = [bytearray(), bytearray()]
    for w in writers:
        w.memory = budget
    for step, ops in enumerate(itertools.zip_longest(first, second)):
        for k, op in enumerate(ops):
            if op is None:
                continue
            start, length = op[0] * 4 * KIB, op[1] * KIB
            data = bytes([1 + (step * 2 + k) % 250]) * length
            writers[k].write(data, offset=start)
            model = models[k]
            if start > len(model):
                model.extend(bytes(start - len(model)))
            model[start:start + length] = data
            assert budget.used <= budget.limit
    writers[0].close()
    if abort_second:
        writers[1].abort("test")
    else:
        writers[1].close()
    assert budget.used == 0
    assert budget.metadata.used == 0  # the spool's extents, given back on close/abort
    assert budget.peak <= budget.limit
    assert session.read_file(f"/budget-{n}-a") == bytes(models[0])
    if not abort_second:
        assert session.read_file(f"/budget-{n}-b") == bytes(models[1])
