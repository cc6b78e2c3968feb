"""Assertions about the blob store shared by core tests."""

from __future__ import annotations

from sqlalchemy import select

from gateway.catalog.tables import blobs
from gateway.core import Core


def assert_store_matches_catalog(core: Core) -> None:
    """The blob store holds exactly the catalog's store-kept blobs: no orphan, nothing
    missing, no temp file left behind (small blobs live inline in the catalog)."""
    with core.catalog.read() as conn:
        expected = set(conn.execute(select(blobs.c.id).where(blobs.c.inline_data.is_(None)))
                       .scalars())
    assert {b.blob_id for b in core.store.enumerate()} == expected
    leftovers = core.store.sweep_temp(0, dry_run=True)  # the store's own temp state, if any
    assert leftovers is None or (leftovers.removed, leftovers.kept_young) == (0, 0)
