"""``CoreServices``: the parts of the ``Core`` a Session works with.

The Session is typed against this protocol, not against ``gateway.core.Core``, so the
composition root imports the Session and nothing in the Session imports the root back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.audit import AuditLog
    from gateway.backends import BlobStore
    from gateway.backends.stores import StoreSet
    from gateway.catalog import Catalog
    from gateway.config import Config
    from gateway.keyring import Keyring


class CoreServices(Protocol):
    """Configuration, catalog, blob store, keyring, audit log (``Core`` provides them)."""

    @property
    def config(self) -> Config: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def store(self) -> BlobStore: ...

    @property
    def stores(self) -> StoreSet: ...

    @property
    def keyring(self) -> Keyring: ...

    @property
    def audit(self) -> AuditLog: ...

    #: tenant id -> root node id (fixed for a tenant's lifetime), shared per process
    @property
    def root_ids(self) -> dict[str, int]: ...
