"""asyncssh's debug logging made free when it is off.

asyncssh formats the arguments of every debug message before the logging level is
checked: a line per SFTP request and per listed name (``SSHLogger.log``), and a
description of every SSH packet (``SSHPacketLogger._log_packet``, shown only at
``set_debug_level(3)``). ``install()`` (each SFTP worker) puts the level check first;
what is logged when debug logging is on does not change. Private asyncssh names: pinned
with the rest (asyncssh_ext.check_version), checked by tests/sftp/test_quirks.py.
"""

from __future__ import annotations

import logging
from typing import Any

from asyncssh.logging import SSHLogger
from asyncssh.packet import SSHPacketLogger

_stock_log = SSHLogger.log
_stock_log_packet = SSHPacketLogger._log_packet


def _log_level_first(self: SSHLogger, level: int, msg: object, *args: Any,
                     **kwargs: Any) -> None:
    if self.logger.isEnabledFor(level):
        _stock_log(self, level, msg, *args, **kwargs)


def _log_packet_when_shown(self: SSHPacketLogger, *args: Any) -> None:
    if SSHLogger._debug_level >= 3 and self.logger.logger.isEnabledFor(logging.DEBUG):
        _stock_log_packet(self, *args)


def install() -> None:
    """Check the level first in every asyncssh logger of this process (idempotent)."""
    SSHLogger.log = _log_level_first  # type: ignore[method-assign]
    SSHPacketLogger._log_packet = _log_packet_when_shown  # type: ignore[method-assign]
