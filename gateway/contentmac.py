"""Content MACs: what the catalog and the audit log keep instead of a plain SHA-256.

A plain digest of a file's content lets whoever reads the database confirm that a tenant
holds a known file, and that two tenants hold the same one. The catalog keeps
HMAC-SHA256(content) under a key derived from the tenant's key instead
(``Keyring.content_mac_key``): only someone holding the tenant's key can compute or
compare it, a tenant purge makes the MACs meaningless too (crypto-shredding), and equal
files of different tenants get unrelated values.

Catalogs from before migration 0004 stored plain digests; 0004 drops them (no keys are
needed for that) and leaves ``content_mac`` empty. ``backfill_content_macs`` then
computes the missing MACs from the decrypted content, in batches; ``serve`` runs it in
the background at every start until nothing is missing.
"""

from __future__ import annotations

import logging
import sys

from sqlalchemy import bindparam, select, update

from gateway.blobio import BlobReader
from gateway.catalog.tables import blobs, nodes
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.keyring import new_content_mac

log = logging.getLogger(__name__)

_MISSING = (select(blobs.c.id, blobs.c.tenant_id, blobs.c.key_version, blobs.c.wrapped_key,
                   blobs.c.stored_size, blobs.c.inline_data)
            .where(blobs.c.content_mac.is_(None), blobs.c.id > bindparam("after"))
            .order_by(blobs.c.id).limit(bindparam("batch")))
_SET_BLOB = update(blobs).where(blobs.c.id == bindparam("b"), blobs.c.content_mac.is_(None)
                                ).values(content_mac=bindparam("mac"))
_SET_NODES = update(nodes).where(nodes.c.blob_id == bindparam("b"),
                                 nodes.c.content_mac.is_(None)
                                 ).values(content_mac=bindparam("mac"))


def backfill_content_macs(core, batch: int = 100) -> int:  # type: ignore[no-untyped-def]
    """Compute the MAC of every blob that has none; returns how many were filled in.

    Blobs whose tenant key is gone (a purged tenant) or that cannot be read are left
    without one and reported once each in the log; the next start tries them again."""
    done, after = 0, ""
    while True:
        with core.catalog.read() as conn:
            rows = conn.execute(_MISSING, {"after": after, "batch": batch}).all()
        if not rows:
            return done
        filled = []
        for row in rows:
            try:
                filled.append({"b": row.id, "mac": _mac_of_blob(core, row)})
            except GatewayError as exc:
                log.warning("content MAC of blob %s not computed: %s", row.id, exc.reason)
        if filled:
            with core.catalog.write() as conn:
                conn.execute(_SET_BLOB, filled)
                conn.execute(_SET_NODES, filled)
        done += len(filled)
        after = rows[-1].id


def _mac_of_blob(core, row) -> str:  # type: ignore[no-untyped-def]
    mac = new_content_mac(core.keyring.content_mac_key(row.tenant_id))
    with BlobReader(core.store, core.keyring, row.tenant_id, row.id, row.key_version,
                    row.wrapped_key, row.stored_size, row.inline_data) as reader:
        for chunk in reader.iter_range(0, reader.size, chunk=1024 * 1024):
            mac.update(chunk)
    return mac.hexdigest()


def backfill_in_background(config: Config) -> None:
    """Run the backfill in a daemon thread of the ``serve`` process, on its own core;
    one line when done."""
    import threading

    from gateway.core import Core

    def run() -> None:
        try:
            with Core.open(config) as core:
                count = backfill_content_macs(core)
        except Exception as exc:  # reported, never fatal: serving goes on
            detail = f": {exc}" if isinstance(exc, GatewayError) else ""  # no SQL/params
            print(f"lumanox-gateway: content MACs: backfill stopped: {type(exc).__name__}"
                  f"{detail}; it resumes at the next start", file=sys.stderr, flush=True)
            return
        if count:
            print(f"lumanox-gateway: content MACs: computed for {count} files stored "
                  "before this version", file=sys.stderr, flush=True)

    threading.Thread(target=run, name="content-mac-backfill", daemon=True).start()
