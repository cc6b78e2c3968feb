"""The SSH connection: authentication through the ``Gate``, then SFTP/SCP channels.

Every decision is the policy layer's: ``gate.begin`` (refuses only a banned address
before any credential), ``LoginFlow`` steps (ACCEPT / CONTINUE with the methods still
required / REJECT), ``gate.open_session`` (session limits) and ``gate.check_protocol``
for each channel (sftp or legacy scp, with the methods used at login). This module only
relays and keeps the per-connection state: the login is audited as ``ssh``, a channel's
refusal under the channel's protocol; at most ``sftp.max_auth_attempts`` failed attempts
(credentials, key probes, changes of user name) per connection, then a disconnect.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from concurrent.futures import Executor
from typing import Any

import asyncssh
from asyncssh import DISC_TOO_MANY_CONNECTIONS
from asyncssh.public_key import decode_ssh_public_key

from gateway.access import Access
from gateway.errors import AuthenticationFailed
from gateway.policy.gate import (
    SSH_KBDINT,
    SSH_PASSWORD,
    SSH_PUBLICKEY,
    Attempt,
    Gate,
    LoginFlow,
    Outcome,
    SessionTicket,
    StepResult,
    TooManySessions,
)
from gateway.principal import Principal
from gateway.sftp.asyncssh_ext import ACCEPT, CONTINUE, REJECT
from gateway.sftp.handler import GatewaySFTPServer
from gateway.sftp.protocol import GatewayChannel
from gateway.sftp.proxied import real_address

log = logging.getLogger("gateway.sftp")


class GatewaySSHServer(asyncssh.SSHServer):
    """One SSH connection."""

    def __init__(self, access: Access, executor: Executor) -> None:
        self.access = access
        self.gate: Gate = access.gate
        self.executor = executor
        self.conn: asyncssh.SSHServerConnection | None = None
        self.addr = ""
        self.client_version = ""
        self.session_id = secrets.token_hex(8)
        self.flow: LoginFlow | None = None
        self.allowed: tuple[str, ...] = ()
        self.result: StepResult | None = None
        self.principal: Principal | None = None
        self.ticket: SessionTicket | None = None
        self.max_auth_attempts = access.config.sftp.max_auth_attempts
        self.auth_failures = 0
        self._user_names = 0

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))

    # --- connection ---------------------------------------------------------------------
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.addr = real_address(conn.get_extra_info("peername"))  # behind a proxy too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.principal is not None and self.ticket is not None:
            self.access.session_ended(self.principal, "sftp")
        ticket, self.ticket = self.ticket, None
        if ticket is not None:  # releases a catalog row: not on the event loop
            try:
                asyncio.get_running_loop().run_in_executor(self.executor, ticket.close)
            except RuntimeError:
                ticket.close()

    # --- authentication -----------------------------------------------------------------
    async def begin_auth(self, username: str) -> bool:
        """Start (or restart, on a new user name) a login flow; refuse outright if the
        gate does (unknown tenant, protocol not allowed, ...)."""
        self.flow, self.result, self.principal = None, None, None
        self._user_names += 1
        if self._user_names > 1:  # trying user names counts as attempts too
            self.auth_failures += 1
        if self.conn is not None:  # known only once the version exchange is done
            self.client_version = str(self.conn.get_extra_info("client_version") or "")[:200]
        attempt = Attempt("sftp", username, self.addr, self.client_version, self.session_id,
                          label="ssh")
        try:
            self.flow = await self._run(self.gate.begin, attempt)
        except AuthenticationFailed:
            raise asyncssh.PermissionDenied("authentication failed") from None
        self.allowed = tuple(self.flow.methods())
        return True

    def auth_attempts_exhausted(self) -> bool:
        """Asked (by asyncssh_ext) before a failure is sent: disconnect instead?"""
        return self.auth_failures >= self.max_auth_attempts

    def _counted(self, ok: bool) -> bool:
        if not ok:
            self.auth_failures += 1
        return ok

    def password_auth_supported(self) -> bool:
        return SSH_PASSWORD in self.allowed

    def kbdint_auth_supported(self) -> bool:
        return SSH_KBDINT in self.allowed

    def public_key_auth_supported(self) -> bool:
        return SSH_PUBLICKEY in self.allowed

    async def validate_password(self, username: str, password: str) -> bool:
        return await self._step(SSH_PASSWORD, self.flow.password, password) \
            if self.flow else False

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """The probe (and pre-signature check): may this key be used?"""
        if self.flow is None:
            return False
        line = key.export_public_key("openssh").decode("ascii").strip()
        return self._counted(bool(await self._run(self.flow.public_key_acceptable, line)))

    async def get_kbdint_challenge(self, username: str, lang: str,
                                   submethods: str) -> tuple[str, str, str, list] | bool:
        if self.flow is None:
            return False
        prompts = await self._run(self.flow.kbdint_prompts)
        return ("", "", "", list(prompts)) if prompts else self._counted(False)

    async def validate_kbdint_response(self, username: str,
                                       responses: list[str]) -> Any:
        if self.flow is None:
            return False
        ok = await self._step(SSH_KBDINT, self.flow.kbdint_answers, list(responses))
        if ok and self.result is not None and self.result.outcome is Outcome.CONTINUE \
                and SSH_KBDINT in self.result.next_methods:
            # another keyboard-interactive round (e.g. a one-time code): ask at once
            prompts = await self._run(self.flow.kbdint_prompts)
            if prompts:
                return ("", "", "", list(prompts))
        return ok

    async def _step(self, method: str, fn: Any, *args: Any) -> bool:
        result: StepResult = await self._run(fn, *args)
        self.result = result
        return self._counted(result.outcome is not Outcome.REJECT)

    async def auth_step_succeeded(self, method: str, key_data: bytes | None) -> str:
        """Called by the auth extension once asyncssh verified a credential."""
        if self.flow is None:
            return REJECT
        if method == SSH_PUBLICKEY:
            if key_data is None:
                return REJECT
            try:
                key = decode_ssh_public_key(key_data)
            except asyncssh.KeyImportError:
                return REJECT
            line = key.export_public_key("openssh").decode("ascii").strip()
            self.result = await self._run(self.flow.public_key_verified, line)
        result, self.result = self.result, None
        if result is None or result.outcome is Outcome.REJECT:
            self.auth_failures += method == SSH_PUBLICKEY  # other methods counted in _step
            return REJECT
        if result.outcome is Outcome.CONTINUE:
            self.allowed = tuple(result.next_methods)
            return CONTINUE
        assert result.principal is not None
        await self._admit(result.principal)
        return ACCEPT

    async def _admit(self, principal: Principal) -> None:
        try:
            self.ticket = await self._run(self.gate.open_session, principal, "ssh",
                                          self.addr)
        except TooManySessions:
            raise asyncssh.DisconnectError(
                DISC_TOO_MANY_CONNECTIONS, "too many sessions for this account") from None
        except AuthenticationFailed:
            raise asyncssh.PermissionDenied("authentication failed") from None
        self.principal = principal
        self.access.session_began(principal, "sftp")  # ended in connection_lost

    # --- channels -----------------------------------------------------------------------
    def session_requested(self) -> GatewayChannel | bool:
        if self.principal is None:
            return False
        return GatewayChannel(self._make_server, self._protocol_allowed)

    async def _make_server(self, chan: asyncssh.SSHServerChannel,
                           protocol: str) -> GatewaySFTPServer:
        assert self.principal is not None
        ticket = self.ticket
        every = self.access.config.policy.session_recheck_s
        session = self.access.session(
            self.principal, protocol, self.addr, self.session_id,
            guard=(lambda: ticket.recheck(every, protocol)) if ticket is not None else None)
        return GatewaySFTPServer(chan, session, self.executor, self.access.config,
                                 send_exit_status=protocol == "sftp")

    async def _protocol_allowed(self, protocol: str) -> bool:
        """May this login use ``protocol`` (sftp subsystem, legacy scp) on a channel?"""
        assert self.principal is not None
        try:
            await self._run(self.gate.check_protocol, self.principal, protocol, self.addr)
        except AuthenticationFailed:
            return False
        return True
