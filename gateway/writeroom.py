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

from typing import TYPE_CHECKING

from gateway.errors import FileTooLarge, QuotaExceeded

if TYPE_CHECKING:
    from gateway.session import Session, Usage


def check_max_file_size(session: Session, path: str, size: int) -> None:
    """Refuse a file of ``size`` bytes when ``storage.max_file_bytes`` forbids it."""
    limit = session.core.config.storage.max_file_bytes
    if limit and size > limit:
        raise FileTooLarge(f"{path} would be {size} bytes; files may not be larger than "
                           f"{limit} bytes on this gateway")


class WriteRoom:
    """The growth allowance of one ``FileWriter``."""

    def __init__(self, session: Session, path: str, replaced: int,
                 usage: Usage | None = None) -> None:
        """``replaced``: bytes of the version the new one replaces (freed at commit);
        ``usage``: quota numbers just read by the caller, if any."""
        self._session = session
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
        check_max_file_size(self._session, self._path, new_size)
        if self._known and (self._allowed is None or new_size <= self._allowed):
            return
        self._learn(self._session.usage())
        if self._allowed is not None and new_size > self._allowed:
            raise QuotaExceeded(f"{self._path} would be {new_size} bytes: not enough quota "
                                "left for it")
