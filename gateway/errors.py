"""Error types shared by the core and mapped to protocol errors by the front-ends.

Every error carries a message that is safe to show to a client or an admin: no key,
secret, password or host path ever goes into one.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""

    #: short machine-readable reason, used as the audit ``reason``
    reason = "error"


# --- configuration and setup ---------------------------------------------------------
class ConfigError(GatewayError):
    """The configuration file or environment is wrong; the message names key and fix."""

    reason = "config"


class SchemaOutOfDate(GatewayError):
    """The catalog needs migrations that were not allowed to run."""

    reason = "schema"


# --- namespace and session -------------------------------------------------------------
class InvalidName(GatewayError):
    """A path component is not an acceptable file name."""

    reason = "invalid-name"


class NotFound(GatewayError):
    """No such file or folder (or no such tenant/user for admin commands)."""

    reason = "not-found"


class AlreadyExists(GatewayError):
    """The target exists and overwriting was not asked for."""

    reason = "exists"


class NotADirectory(GatewayError):
    """A folder operation was asked of a file, or a path runs through a file."""

    reason = "not-a-directory"


class IsADirectory(GatewayError):
    """A file operation was asked of a folder."""

    reason = "is-a-directory"


class DirectoryNotEmpty(GatewayError):
    """A non-recursive delete of a folder that has children."""

    reason = "not-empty"


class InvalidMove(GatewayError):
    """A move or copy that cannot be done (into itself, onto the root, ...)."""

    reason = "invalid-move"


class PermissionDenied(GatewayError):
    """The principal lacks the permission for this operation on this path."""

    reason = "permission"


class LegalHold(PermissionDenied):
    """A deletion, replacement or move of something under a legal hold: refused until the
    hold is released (gateway/compliance/retention/holds.py). The message names the hold."""

    reason = "legal-hold"


class HiddenPath(NotFound):
    """The principal may not see this path (no list or read on it): refused exactly as a
    missing path is answered (WebDAV 404, SFTP no-such-file), audited as ``denied``."""

    reason = "permission"

    def __init__(self, detail: str = "") -> None:
        super().__init__("no such file or folder")
        #: for the audit log only, never for the client
        self.detail = detail


class QuotaExceeded(GatewayError):
    """The operation would take the tenant or user over a byte or file quota."""

    reason = "quota"


class FileTooLarge(QuotaExceeded):
    """The file would grow past ``storage.max_file_bytes`` (refused like a full quota)."""

    reason = "file-too-large"


class IncompleteUpload(GatewayError):
    """The writer closed with fewer or more bytes than announced; nothing was changed."""

    reason = "incomplete"


class Locked(GatewayError):
    """The resource is locked by someone else (WebDAV locks)."""

    reason = "locked"


class Conflict(GatewayError):
    """A concurrent change won; the caller may retry."""

    reason = "conflict"


# --- keys and blob integrity -----------------------------------------------------------
class KeyUnavailable(GatewayError):
    """A key needed to read or write is missing, destroyed or cannot be unwrapped."""

    reason = "key-unavailable"


class BlobIntegrityError(GatewayError):
    """Stored ciphertext failed verification: it was modified, cut or mixed up."""

    reason = "integrity"


class BlobFormatError(BlobIntegrityError):
    """The blob does not start with a valid header (magic, version, lengths)."""


class BlobHeaderMismatch(BlobIntegrityError):
    """The header names another blob or another tenant than the catalog expects."""


class BlobTruncated(BlobIntegrityError):
    """The blob ends early: its last segment is missing or cut."""


class SegmentOutOfOrder(BlobIntegrityError):
    """A segment is authentic but stands at the wrong position."""


class SegmentTampered(BlobIntegrityError):
    """A segment failed authentication: modified bytes or taken from another blob."""


# --- backends ----------------------------------------------------------------------------
class BackendError(GatewayError):
    """The blob store failed (I/O error, unreachable object store)."""

    reason = "backend"


class BlobNotFound(BackendError):
    """The blob store has no blob with that id."""

    reason = "blob-missing"


# --- authentication ----------------------------------------------------------------------
class AuthenticationFailed(GatewayError):
    """Login refused. ``detail`` is for the audit log only, never for the client."""

    reason = "auth"
    #: a category safe to show to the client (e.g. "app-password-required"), or ""
    hint = ""
    #: human text for ``hint`` (e.g. for a WWW-Authenticate realm), or ""
    hint_text = ""

    def __init__(self, detail: str = "authentication failed") -> None:
        super().__init__("authentication failed")
        self.detail = detail
