"""The composition root: configuration -> catalog, blob store, keyring, audit.

One ``Core`` per process. Front-ends and the CLI obtain ``Session`` objects from it.
Startup fails closed: an unreachable catalog, a missing master key or an unwritable blob
store stops the process with a one-line reason instead of serving half-way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.audit import AuditEvent, AuditLog
from gateway.auditv2.checkpoint import CheckpointWriter
from gateway.auditv2.export import audit_cursor_file, audit_target, export_to_target
from gateway.auditv2.verify import seal_v1_chains
from gateway.backends import BlobStore
from gateway.backends.stores import StoreSet, load_stores
from gateway.catalog import Catalog
from gateway.config import Config
from gateway.keyring import Keyring
from gateway.principal import Principal
from gateway.session import Session

log = logging.getLogger(__name__)


class Core:
    """Everything a front-end needs, opened once per process."""

    def __init__(self, config: Config, catalog: Catalog, store: BlobStore, keyring: Keyring,
                 audit: AuditLog, audit_target: str = "off") -> None:
        self.config = config
        #: where the JSON-lines audit stream goes: a file path, ``stdout`` or ``off``
        self.audit_target = audit_target
        self.catalog = catalog
        self.store = store
        #: every named store (``store`` is the same set, maybe wrapped, routing by blob id)
        self.stores = store if isinstance(store, StoreSet) else StoreSet(
            {"default": store}, {"default": config.storage.region})
        self.keyring = keyring
        self.audit = audit
        #: tenant id -> root node id; fixed for a tenant's lifetime (a purged tenant's
        #: id is never reused, and every query also filters by tenant id)
        self.root_ids: dict[str, int] = {}

    @classmethod
    def open(cls, config: Config, *, migrate: bool | None = None,
             audit_log: str | None = None) -> Core:
        """Open every part; apply migrations unless told not to (then refuse if pending)."""
        catalog = Catalog(config.catalog_url, pool_size=config.catalog.pool_size)
        try:
            catalog.ensure_schema(
                auto_migrate=config.catalog.auto_migrate if migrate is None else migrate)
            config.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            store = load_stores(config)
            store.check()
            keyring = Keyring.open(catalog, config.master_key_file)
            audit_key = keyring.audit_key()
            checkpoint = CheckpointWriter(config.audit_checkpoint_file, audit_key, catalog,
                                          config.audit.checkpoint_interval_s)
            if seal_v1_chains(catalog, audit_key):  # upgraded from v1: record the heads now
                checkpoint.write()
        except BaseException:
            catalog.dispose()
            raise
        audit = AuditLog(catalog, audit_key, batch_max_events=config.audit.batch_max_events,
                         batch_max_delay_ms=config.audit.batch_max_delay_ms,
                         checkpoint=checkpoint)
        return cls(config, catalog, store, keyring, audit,
                   audit_log or audit_target(config))

    def session(self, principal: Principal, protocol: str, remote_addr: str,
                session_id: str | None = None,
                guard: Callable[[], None] | None = None) -> Session:
        return Session(self, principal, protocol, remote_addr, session_id, guard)

    def record(self, event: AuditEvent) -> None:
        """Audit an event that belongs to no session (e.g. a refused login)."""
        self.audit.record(event)

    def export_audit(self) -> int:
        """Bring a file audit stream up to date with the catalog (a no-op for stdout, which
        only ``serve``'s supervisor writes); returns how many events were appended."""
        if self.audit_target in ("off", "stdout"):
            return 0
        self.audit.flush()
        return export_to_target(self.catalog, self.audit_target,
                                audit_cursor_file(self.config, self.audit_target))

    def close(self) -> None:
        self.audit.close()
        try:
            self.export_audit()
        except Exception:  # the catalog holds every event; the next export catches up
            log.exception("audit: could not export to %s", self.audit_target)
        self.catalog.dispose()

    def __enter__(self) -> Core:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
