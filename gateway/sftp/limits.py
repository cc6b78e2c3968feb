"""Resource limits per SSH connection: channels, open handles, buffered write bytes.

A limit per channel is no limit (a client opens more channels), so one
``ConnectionLimits`` is kept per ``SSHServerConnection`` and shared by all its channels:

* ``[sftp] max_channels_per_connection`` (default 10): session channels open at once;
  one more is refused with "too many channels" (SSH_OPEN_RESOURCE_SHORTAGE);
* ``[sftp] max_handles_per_connection`` (default 128): open files and directories of all
  channels; one more is refused with "too many open files";
* ``[sftp] max_write_buffer_bytes_per_connection`` (default 16 MiB): bytes held in RAM
  for writes (write-behind queues, out-of-order reorder buffers) and read-ahead of all
  handles. Reorder buffers spill to the encrypted spool file when it is spent;
  write-behind waits; read-ahead is skipped. The spools' extent maps have a second
  budget of the same size (``MemoryBudget.metadata``): past it a write fails.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import asyncssh

from gateway.config import Config
from gateway.membudget import MemoryBudget


@dataclass
class ConnectionLimits:
    max_channels: int
    max_handles: int
    memory: MemoryBudget
    channels: set[object] = field(default_factory=set)
    handles: int = 0

    @classmethod
    def from_config(cls, config: Config) -> ConnectionLimits:
        s = config.sftp
        return cls(s.max_channels_per_connection, s.max_handles_per_connection,
                   MemoryBudget(s.max_write_buffer_bytes_per_connection))

    # --- channels ---------------------------------------------------------------------
    def open_channel(self, channel: object) -> bool:
        if len(self.channels) >= self.max_channels:
            return False
        self.channels.add(channel)
        return True

    def close_channel(self, channel: object) -> None:
        self.channels.discard(channel)

    # --- handles ----------------------------------------------------------------------
    def open_handle(self) -> bool:
        if self.handles >= self.max_handles:
            return False
        self.handles += 1
        return True

    def close_handle(self) -> None:
        self.handles = max(0, self.handles - 1)


_BY_CONNECTION: weakref.WeakKeyDictionary[asyncssh.SSHServerConnection, ConnectionLimits] = \
    weakref.WeakKeyDictionary()


def limits_of(conn: asyncssh.SSHServerConnection, config: Config) -> ConnectionLimits:
    """The limits shared by every channel of ``conn`` (created on first use)."""
    limits = _BY_CONNECTION.get(conn)
    if limits is None:
        limits = _BY_CONNECTION[conn] = ConnectionLimits.from_config(config)
    return limits
