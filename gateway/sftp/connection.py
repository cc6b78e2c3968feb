"""The SSH connection as served: ``GatewaySSHServer`` plus per-connection guards.

* channels: at most ``[sftp] max_channels_per_connection`` session channels at once;
  one more is refused (SSH_OPEN_RESOURCE_SHORTAGE "too many channels") and audited
  (action ``channel``, result ``denied``);
* negotiation: a connection that ends before its first key exchange completed is logged
  (warning) and audited (action ``negotiate``, result ``failed``) with the client's
  banner and offered algorithms (``negotiation.py``), so an admin sees why a partner's
  tool cannot connect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncssh
from asyncssh import OPEN_RESOURCE_SHORTAGE

from gateway.sftp.auth import GatewaySSHServer
from gateway.sftp.limits import limits_of
from gateway.sftp.negotiation import failed_negotiation
from gateway.sftp.protocol import GatewayChannel

log = logging.getLogger("gateway.sftp")


class GuardedSSHServer(GatewaySSHServer):
    """One SSH connection, with the limits and the negotiation audit of this module."""

    def session_requested(self) -> GatewayChannel | bool:
        channel = super().session_requested()
        if not isinstance(channel, GatewayChannel) or self.conn is None:
            return channel
        limits = limits_of(self.conn, self.access.config)
        if not limits.open_channel(channel):
            self._in_background(self._audit_channel_refused, limits.max_channels)
            raise asyncssh.ChannelOpenError(
                OPEN_RESOURCE_SHORTAGE,
                f"too many channels (limit {limits.max_channels} per connection)")
        channel.on_close = lambda: limits.close_channel(channel)
        return channel

    def _audit_channel_refused(self, limit: int) -> None:
        assert self.principal is not None
        session = self.access.session(self.principal, "sftp", self.addr, self.session_id)
        session.record("channel", result="denied",
                       reason=f"channel limit: {limit} per connection")

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self.conn
        super().connection_lost(exc)
        if conn is None:
            return
        try:
            description = failed_negotiation(conn, exc)
        except Exception:  # diagnostics must never break the teardown
            log.exception("sftp: could not describe a failed negotiation")
            return
        if description is None:
            return
        log.warning("sftp: key exchange with %s failed: %s", self.addr or "?", description)
        self._in_background(self.access.record_negotiation_failure, "sftp", self.addr,
                            self.session_id, description)

    def _in_background(self, fn: Callable[..., None], *args: object) -> None:
        """Run a catalog write off the event loop (inline when the loop is gone)."""
        try:
            asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        except RuntimeError:
            fn(*args)
