"""Map ``gateway.errors`` to SFTP v3 status errors (see docs/core-api.md)."""

from __future__ import annotations

import logging

from asyncssh import SFTPError, SFTPNoSuchFile, SFTPPermissionDenied
from asyncssh.sftp import FX_FAILURE, FX_OP_UNSUPPORTED

from gateway import errors

log = logging.getLogger("gateway.sftp")

_MESSAGES: dict[type[errors.GatewayError], str] = {
    errors.QuotaExceeded: "quota exceeded",
    errors.AlreadyExists: "already exists",
    errors.DirectoryNotEmpty: "directory not empty",
    errors.InvalidName: "invalid name",
    errors.NotADirectory: "not a directory",
    errors.IsADirectory: "is a directory",
    errors.InvalidMove: "invalid move",
    errors.IncompleteUpload: "incomplete upload, previous version kept",
}


def to_sftp(exc: BaseException) -> SFTPError:
    """The SFTP status for a core error; internal errors are logged, not shown."""
    if isinstance(exc, SFTPError):
        return exc
    if isinstance(exc, errors.NotFound):
        return SFTPNoSuchFile("no such file")
    if isinstance(exc, errors.PermissionDenied | errors.AuthenticationFailed):
        return SFTPPermissionDenied("permission denied")
    if isinstance(exc, errors.Locked):  # SFTP v3 has no lock status; the text says which
        return SFTPPermissionDenied("locked by a WebDAV client; try again later")
    if isinstance(exc, errors.GatewayError) and exc.reason == "resource-limit":
        return SFTPError(FX_FAILURE, str(exc))
    for kind, message in _MESSAGES.items():
        if isinstance(exc, kind):
            detail = str(exc) if kind is errors.QuotaExceeded else ""
            return SFTPError(FX_FAILURE, f"{message}: {detail}" if detail else message)
    if isinstance(exc, errors.GatewayError):
        log.warning("sftp: %s: %s", type(exc).__name__, exc)
        return SFTPError(FX_FAILURE, "server error")
    log.exception("sftp: unexpected error", exc_info=exc)
    return SFTPError(FX_FAILURE, "server error")


def unsupported(what: str) -> SFTPError:
    return SFTPError(FX_OP_UNSUPPORTED, f"{what} not supported")


def failure(message: str) -> SFTPError:
    return SFTPError(FX_FAILURE, message)
