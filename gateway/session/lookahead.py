"""What a request's first look-up learnt, kept for the operation that follows it.

WebDAV resolves a request URL before the method runs (wsgidav needs the resource, and for
a PUT its parent folder) and then works on it: a GET reads the file, a PUT writes it, a
HEAD or PROPFIND stats or lists it. With ``Session.stat_quiet(path,
prepare="stat"|"read"|"write")`` that first look-up is ONE read transaction that also
fetches what the coming call needs: ``open_read`` the blob's key, ``open_write`` the
parent folder, the tenant's WebDAV locks and the quota usage. The ``stat_quiet`` of the
parent, ``stat``, ``list`` (its folder's node), ``open_read`` and ``open_write`` of that
path then run no look-up of their own.

Never a stale answer that changes behaviour: the facts are served for ``MAX_AGE_S`` after
they were read and only until the session's next change (any write transaction of the
session drops them), so a session that lives long (SSH) cannot be served an old node;
within that window the result is the one the request would have had if it had arrived
those milliseconds earlier. Every commit re-checks existence, locks and quota inside its
own write transaction exactly as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.entry import Entry, entry_of
from gateway.errors import NotFound
from gateway.names import join_path

if TYPE_CHECKING:
    from gateway.catalog.namespace import Node
    from gateway.quota import Usage
    from gateway.session.locking import LockInfo

#: how long the facts of one look-up are served: one request's resolve-then-open
MAX_AGE_S = 2.0
#: the operations a look-up may prepare ("stat": the audited stat or list of the path)
PREPARE = ("stat", "read", "write")


@dataclass
class Prepared:
    """One read transaction's facts about a path (``parts`` as split by ``names``)."""

    parts: tuple[str, ...]
    node: Node | None  # the path's node; None: it does not exist (its parent does)
    stored: str  # the path as stored (case-insensitive tenants: the stored case)
    parent: Node | None = None  # a full row (``prepare="write"``)
    parent_stored: str = "/"
    blob_key: Any = None  # the blob's key row (``"read"``, a file with content)
    locks: list[LockInfo] | None = None  # the tenant's unexpired locks (``"write"``)
    usage: Usage | None = None  # quota usage (``"write"``)
    read_at: float = field(default_factory=time.monotonic)

    def entry(self) -> Entry:
        """The path's entry, or NotFound."""
        if self.node is None:
            raise NotFound(f"{join_path(list(self.parts))} does not exist")
        return entry_of(self.stored, self.node)


class Lookahead:
    """The facts of a session's last prepared look-up, while they may be served."""

    def __init__(self) -> None:
        self._facts: Prepared | None = None

    def keep(self, facts: Prepared) -> None:
        self._facts = facts

    def forget(self) -> None:
        """The session is about to change something: what it read may change too."""
        self._facts = None

    def _fresh(self) -> Prepared | None:
        facts = self._facts
        if facts is not None and time.monotonic() - facts.read_at > MAX_AGE_S:
            self._facts = facts = None
        return facts

    def of(self, parts: list[str]) -> Prepared | None:
        """The facts about ``parts``, if a prepared look-up of that path is fresh."""
        facts = self._fresh()
        return facts if facts is not None and facts.parts == tuple(parts) else None

    def entry(self, parts: list[str]) -> Entry | None:
        """The entry of ``parts`` (the prepared path, or its parent folder) from fresh
        facts; None when they do not tell. NotFound for a prepared path that is missing."""
        facts = self._fresh()
        if facts is None:
            return None
        if facts.parts == tuple(parts):
            return facts.entry()
        if facts.parent is not None and facts.parts[:-1] == tuple(parts):
            return entry_of(facts.parent_stored, facts.parent)
        return None
