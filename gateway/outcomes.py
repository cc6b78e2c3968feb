"""How a failed operation is recorded in the audit log: ``denied``, ``miss`` or ``error``.

A refusal by policy is ``denied``. A lookup (``stat``) of a path that does not exist is a
normal outcome, not a failure: every new SFTP/SCP upload starts with the client asking
whether the target exists, so recording those as errors would bury the real ones. They
are ``miss``. Everything else that went wrong is ``error``.
"""

from __future__ import annotations

from gateway.errors import (
    AuthenticationFailed,
    Locked,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)

DENIED = "denied"
MISS = "miss"
ERROR = "error"
RESULTS = ("ok", DENIED, MISS, ERROR)
REFUSALS = (PermissionDenied, QuotaExceeded, Locked, AuthenticationFailed)
#: actions that only look a path up: a missing path is an answer, not a failure
LOOKUPS = frozenset({"stat"})


def failure_result(action: str, exc: BaseException) -> str:
    """The audit ``result`` of ``action`` that raised ``exc``."""
    if isinstance(exc, REFUSALS):
        return DENIED
    if action in LOOKUPS and isinstance(exc, NotFound):
        return MISS
    return ERROR
