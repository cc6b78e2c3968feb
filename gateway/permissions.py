"""Permission questions a front-end asks the core (through ``Session.may``).

A front-end never reads a principal's rules itself: what it shows (SFTP mode bits, WebDAV
properties) and what it refuses before starting an operation the core performs later (an
SFTP open for writing that keeps the content opens no core writer until the first change)
are answered here, from the same rules and with the same errors as the operations:

* ``may(session, perm, path)``: a yes/no for display, no audit;
* ``may(session, perm, path, audit_as=ACTION)``: a refusal is raised (``PermissionDenied``,
  or ``HiddenPath`` for a path the principal may not see: answered as missing) and
  audited as ``ACTION``, ``denied``, exactly as the operation itself would audit it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import authz
from gateway.names import join_path, split_path
from gateway.outcomes import failure_result

if TYPE_CHECKING:
    from gateway.session import Session


def may(session: Session, perm: str, path: str, audit_as: str | None = None) -> bool:
    """Does the session's principal hold ``perm`` on ``path``? (module doc)"""
    if audit_as is None:
        return session.principal.allowed(perm, path)
    norm = join_path(split_path(path))
    err = authz.refusal(session.principal, perm, norm)
    if err is None:
        return True
    session.record(audit_as, path=norm, result=failure_result(audit_as, err),
                   reason=f"{err.reason}: {err}")
    raise err
