"""File names and paths as the catalog understands them.

Paths are ``/``-separated, rooted at the tenant's root. Each component is validated and
NFC-normalised here; the OS never sees a user-supplied path, so ``..``, absolute paths,
NUL bytes and the like cannot reach anything outside the tenant's namespace.
"""

from __future__ import annotations

import ipaddress
import unicodedata

MAX_NAME_BYTES = 255
MAX_DEPTH = 64
MAX_PATH_CHARS = 4096

from gateway.errors import InvalidName  # noqa: E402


def normalize_name(name: str) -> str:
    """Validate one path component and return it NFC-normalised."""
    if not isinstance(name, str):
        raise InvalidName("a file name must be text")
    nfc = unicodedata.normalize("NFC", name)
    if nfc in ("", ".", ".."):
        raise InvalidName(f"{nfc!r} is not allowed as a file name")
    if "/" in nfc or "\x00" in nfc:
        raise InvalidName("a file name may not contain '/' or NUL")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in nfc):
        raise InvalidName("a file name may not contain control characters")
    if len(nfc.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidName(f"a file name may be at most {MAX_NAME_BYTES} bytes (UTF-8)")
    return nfc


def name_key(name: str, case_insensitive: bool) -> str:
    """The form of a (normalised) name that is compared for uniqueness in a folder."""
    return unicodedata.normalize("NFC", name.casefold()) if case_insensitive else name


def split_path(path: str) -> list[str]:
    """Split ``/a/b/c`` into validated components; ``/`` and ``""`` are the root ([])."""
    if len(path) > MAX_PATH_CHARS:
        raise InvalidName(f"a path may be at most {MAX_PATH_CHARS} characters")
    parts = [normalize_name(p) for p in path.split("/") if p != ""]
    if len(parts) > MAX_DEPTH:
        raise InvalidName(f"a path may be at most {MAX_DEPTH} folders deep")
    return parts


def join_path(parts: list[str]) -> str:
    return "/" + "/".join(parts)


def normalize_path(path: str) -> str:
    """Canonical form of a path: validated, NFC, leading slash, no trailing slash."""
    return join_path(split_path(path))


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a name or junk is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
