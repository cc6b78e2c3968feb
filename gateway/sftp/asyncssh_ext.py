"""A small, isolated extension of asyncssh's server authentication.

asyncssh has no public API for multi-step logins ("publickey AND keyboard-interactive"):
its server auth handlers always answer a verified credential with USERAUTH_SUCCESS.
``install()`` replaces the server handlers of ``publickey``, ``password`` and
``keyboard-interactive`` with subclasses whose ``send_success`` first asks the owner
(``SSHServer``) for the verdict of the step::

    async def auth_step_succeeded(method: str, key_data: bytes | None) -> str
        # "accept" -> USERAUTH_SUCCESS, "continue" -> USERAUTH_FAILURE with
        # partial-success, anything else -> plain USERAUTH_FAILURE

``send_success`` runs only after asyncssh verified the credential (for publickey: the
signature over the session id), so a step is recorded as done only then. The methods
listed in the failure message come from ``*_auth_supported()``, which the owner answers
from the methods still required. Owners without the hook behave as stock asyncssh.

It also lets a client repeat the ``ssh-userauth`` service request while authentication
is in progress (paramiko does when it retries keys; stock asyncssh disconnects), and
bounds the failed authentication attempts of one connection (stock asyncssh has no
limit): before each (non-partial) failure is sent, the owner is asked::

    def auth_attempts_exhausted() -> bool

and when it answers True the connection is disconnected ("too many authentication
failures", like OpenSSH's MaxAuthTries) instead.

This touches private asyncssh names, so asyncssh is pinned (pyproject) and
``check_version()`` refuses versions outside the tested range;
tests/sftp/test_auth_extension.py fails loudly if an upgrade breaks it.
"""

from __future__ import annotations

import asyncio
import logging

import asyncssh
from asyncssh import DISC_NO_MORE_AUTH_METHODS_AVAILABLE, auth as _auth, connection as _connection
from asyncssh.constants import MSG_SERVICE_ACCEPT, MSG_SERVICE_REQUEST
from asyncssh.packet import SSHPacket, String

TESTED = ((2, 24), (2, 25))  # [min, max)
ACCEPT, CONTINUE, REJECT = "accept", "continue", "reject"
_USERAUTH = b"ssh-userauth"
_installed = False


class AsyncsshVersionError(RuntimeError):
    """The installed asyncssh was not tested with this extension."""


def check_version(version: str = asyncssh.__version__) -> None:
    parts = tuple(int(p) for p in version.split(".")[:2])
    if not TESTED[0] <= parts < TESTED[1]:
        raise AsyncsshVersionError(
            f"asyncssh {version} is outside the tested range "
            f"{'.'.join(map(str, TESTED[0]))} to <{'.'.join(map(str, TESTED[1]))}: "
            "gateway/sftp/asyncssh_ext.py must be re-validated")


class _StepMixin:
    """``send_success`` -> ask the owner whether the login is complete."""

    _conn: asyncssh.SSHServerConnection
    _method: bytes
    _key_data: bytes | None = None

    async def send_success(self) -> None:
        owner = getattr(self._conn, "_owner", None)
        hook = getattr(owner, "auth_step_succeeded", None)
        if hook is None:
            await super().send_success()  # type: ignore[misc]
            return
        try:
            verdict = await hook(self._method.decode("ascii"), self._key_data)
        except (asyncssh.DisconnectError, asyncio.CancelledError):
            raise
        except Exception:  # a bug must fail closed, not drop the connection silently
            logging.getLogger("gateway.sftp").exception("auth step failed")
            verdict = REJECT
        if verdict == ACCEPT:
            await super().send_success()  # type: ignore[misc]
        else:
            self.send_failure(partial_success=verdict == CONTINUE)  # type: ignore[attr-defined]


class PublicKeyAuth(_StepMixin, _auth._ServerPublicKeyAuth):
    async def _start(self, packet: SSHPacket) -> None:
        peek = SSHPacket(packet.get_remaining_payload())
        peek.get_boolean()
        peek.get_string()  # algorithm
        self._key_data = peek.get_string()
        await super()._start(packet)


class PasswordAuth(_StepMixin, _auth._ServerPasswordAuth):
    pass


class KbdIntAuth(_StepMixin, _auth._ServerKbdIntAuth):
    pass


def _process_service_request(self: _connection.SSHConnection, pkttype: int, pktid: int,
                             packet: SSHPacket) -> None:
    """Accept a repeated ssh-userauth request during authentication, else as stock."""
    if (self.is_server() and self._recv_encryption and self._next_service is None
            and self._auth_in_progress and not self._auth_complete):
        service = packet.get_string()
        packet.check_end()
        if service == _USERAUTH:
            self.send_packet(MSG_SERVICE_ACCEPT, String(service))
            return
        raise asyncssh.ServiceNotAvailable("Unexpected service in service request")
    _STOCK_SERVICE_REQUEST(self, pkttype, pktid, packet)


_STOCK_SERVICE_REQUEST = _connection.SSHConnection._packet_handlers[MSG_SERVICE_REQUEST]
_STOCK_SEND_FAILURE = _connection.SSHConnection.send_userauth_failure


def _send_userauth_failure(self: _connection.SSHServerConnection,
                           partial_success: bool) -> None:
    """Disconnect instead of answering once the owner's attempt budget is spent."""
    exhausted = getattr(getattr(self, "_owner", None), "auth_attempts_exhausted", None)
    if not partial_success and exhausted is not None and exhausted():
        self._auth = None
        self.disconnect(DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                        "too many authentication failures")
        return
    _STOCK_SEND_FAILURE(self, partial_success)


def install() -> None:
    """Install the extension (idempotent). Raises AsyncsshVersionError if untested."""
    global _installed
    if _installed:
        return
    check_version()
    handlers = _auth._server_auth_handlers
    for name, cls in ((b"publickey", PublicKeyAuth), (b"password", PasswordAuth),
                      (b"keyboard-interactive", KbdIntAuth)):
        if name not in handlers or not issubclass(cls, handlers[name]):
            raise AsyncsshVersionError(f"asyncssh auth handler {name!r} changed")
        handlers[name] = cls
    server_cls = _connection.SSHServerConnection
    server_cls._packet_handlers = {**server_cls._packet_handlers,
                                   MSG_SERVICE_REQUEST: _process_service_request}
    if "send_userauth_failure" in server_cls.__dict__:
        raise AsyncsshVersionError("asyncssh SSHServerConnection.send_userauth_failure changed")
    server_cls.send_userauth_failure = _send_userauth_failure  # type: ignore[method-assign]
    _installed = True
