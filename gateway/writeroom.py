"""How large a new file version may grow, checked BEFORE the bytes are written.

A write far past the end of a file (SFTP lets a client seek anywhere), a truncate that
extends a file, or an upload that announces its length would otherwise materialise the
hole as zero-filled ciphertext, and the quota would only refuse it at commit, after the
disk has been filled. ``WriteRoom`` refuses the growth at once: past
``storage.max_file_bytes`` with ``FileTooLarge``, past the room the quota leaves (the
tighter of tenant and user, counting the bytes of the version being replaced) with
``QuotaExceeded``. The quota room is read once and re-read only when a file grows past
it (another upload may have freed space meanwhile); the commit still checks the quota
atomically, so concurrent uploads cannot overrun it together either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gateway.errors import FileTooLarge, QuotaExceeded

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.quota import Usage


class _Configured(Protocol):
    @property
    def config(self) -> Config: ...


class _OnCore(Protocol):
    """Anything with the core's configuration at hand (a Session)."""

    @property
    def core(self) -> _Configured: ...


def _too_large(limit: int, size: int) -> bool:
    """Does ``limit`` (``storage.max_file_bytes``, 0 for none) forbid ``size`` bytes?"""
    return bool(limit) and size > limit


def check_file_size(limit: int, path: str, size: int) -> None:
    """Refuse a file of ``size`` bytes when ``limit`` (``storage.max_file_bytes``, 0 for
    none) forbids it."""
    if _too_large(limit, size):
        raise FileTooLarge(f"{path} would be {size} bytes; files may not be larger than "
                           f"{limit} bytes on this gateway")


def check_max_file_size(session: _OnCore, path: str, size: int) -> None:
    """Refuse a file of ``size`` bytes when ``storage.max_file_bytes`` forbids it."""
    check_file_size(session.core.config.storage.max_file_bytes, path, size)


class WriteRoom:
    """The growth allowance of one ``FileWriter``."""

    def __init__(self, max_file_bytes: int, read_usage: Callable[[], Usage], path: str,
                 replaced: int, usage: Usage | None = None) -> None:
        """``read_usage`` reads the quota numbers afresh; ``replaced``: bytes of the
        version the new one replaces (freed at commit); ``usage``: quota numbers just
        read by the caller, if any."""
        self._max_file_bytes = max_file_bytes
        self._read_usage = read_usage
        self._path = path
        self._replaced = replaced
        self._allowed: int | None = None
        self._known = False
        if usage is not None:
            self._learn(usage)

    def _learn(self, usage: Usage) -> None:
        room = usage.available_bytes
        self._allowed = None if room is None else room + self._replaced
        self._known = True

    def check(self, new_size: int) -> None:
        """Raise unless the file may grow to ``new_size`` bytes."""
        check_file_size(self._max_file_bytes, self._path, new_size)
        if self._room_known(new_size):
            return
        self._learn(self._read_usage())
        if self._allowed is not None and new_size > self._allowed:
            raise QuotaExceeded(f"{self._path} would be {new_size} bytes: not enough quota "
                                "left for it")

    def fits_known(self, new_size: int) -> bool:
        """Whether the numbers already read allow ``new_size`` (no I/O; False when they
        do not or none were read: then ``check`` decides)."""
        return not _too_large(self._max_file_bytes, new_size) and self._room_known(new_size)

    def _room_known(self, new_size: int) -> bool:
        """Do the quota numbers already read leave room for ``new_size``?"""
        return self._known and (self._allowed is None or new_size <= self._allowed)
