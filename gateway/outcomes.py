"""How a failed operation is recorded in the audit log: ``denied``, ``miss`` or ``error``.

A refusal by policy is ``denied`` (a path the principal may not see, ``HiddenPath``, too,
although the client is answered as for a missing one). An operation on a path that does
not exist is a ``miss``: a normal outcome, not a failure (every new SFTP/SCP upload starts
with the client asking whether the target exists, and probes of missing paths must be
visible without burying real errors). Everything else that went wrong is ``error``.
"""

from __future__ import annotations

from gateway.errors import (
    AuthenticationFailed,
    HiddenPath,
    Locked,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)

DENIED = "denied"
MISS = "miss"
ERROR = "error"
RESULTS = ("ok", DENIED, MISS, ERROR)
REFUSALS = (PermissionDenied, HiddenPath, QuotaExceeded, Locked, AuthenticationFailed)


def failure_result(action: str, exc: BaseException) -> str:
    """The audit ``result`` of ``action`` that raised ``exc``."""
    if isinstance(exc, REFUSALS):
        return DENIED
    if isinstance(exc, NotFound):
        return MISS
    return ERROR
