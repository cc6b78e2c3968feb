"""``Entry``: what the Session's stat and list return, a catalog node plus its path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.catalog.namespace import DIR, Node


@dataclass(frozen=True)
class Entry:
    """What stat and list return: a node plus its path."""

    path: str
    name: str
    kind: str
    size: int
    mtime: datetime
    ctime: datetime
    etag: str
    content_mac: str | None  # HMAC-SHA256 under the tenant's key (gateway/contentmac.py)
    node_id: int

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR


def entry_of(path: str, node: Node) -> Entry:
    """The entry of ``node`` found at ``path``."""
    name = path.rsplit("/", 1)[-1]
    return Entry(path, name, node.kind, node.size, node.mtime, node.ctime, node.etag,
                 node.content_mac, node.id)
