"""Session: the only door to files, shared by every front-end.

A ``Session`` is one authenticated principal speaking one protocol from one address.
Every public method resolves paths through the catalog, checks the principal's
permissions and the quotas, does the work, and emits exactly one audit event, whether it
succeeded, was refused or failed. Front-ends translate protocol requests into these calls
and map the ``gateway.errors`` types back to protocol status codes.

The Session is a thin orchestrator, split by operation the way Radicale splits its
storage: ``base`` (identity, audit plumbing, resolution, permission and lock checks),
``reads``, ``writes`` (open_write and its commit), ``changes`` (namespace changes) and
``locks`` (WebDAV locks, over ``locking``, which every change checks in its transaction).
The work itself is done by modules that know nothing of sessions: ``catalog.namespace``
(reads) and ``catalog.nswrite`` (writes) for nodes, ``quota`` for usage accounting,
``contentstore`` for blobs, and the handles ``filereader`` / ``filewriter``.
"""

from gateway.entry import Entry
from gateway.filereader import FileReader
from gateway.quota import Usage
from gateway.session.base import SessionBase
from gateway.session.changes import SessionPartChange
from gateway.session.locks import SessionPartLock
from gateway.session.reads import SessionPartRead
from gateway.session.writes import SessionPartWrite


class Session(SessionPartRead, SessionPartWrite, SessionPartChange, SessionPartLock,
              SessionBase):
    """Operations on one tenant's files on behalf of one principal."""


__all__ = ["Entry", "FileReader", "Session", "Usage"]
