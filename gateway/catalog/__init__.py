"""The SQL catalog: tenants, users, keys, the namespace tree, blobs, audit, locks."""

from gateway.catalog.db import Catalog

__all__ = ["Catalog"]
