"""The front-ends' view of the core: sessions, the Gate, configuration values, and the few
audit records that belong to no session.

WebDAV and SFTP receive an ``Access``, never the ``Core``: nothing here hands out the
catalog, the blob store, the keyring or the audit log, so a front-end cannot reach them
(import-linter contracts in pyproject.toml keep the imports out as well).
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.audit import AuditEvent
from gateway.config import Config
from gateway.core import Core
from gateway.policy.gate import Gate
from gateway.principal import Principal
from gateway.session import Session


class Access:
    """One per front-end process; built over that process's ``Core``."""

    def __init__(self, core: Core, gate: Gate | None = None) -> None:
        self._core = core
        self.config: Config = core.config
        self.gate: Gate = gate or Gate(core)

    @classmethod
    def open(cls, config: Config, *, migrate: bool | None = False) -> Access:
        """Open the core for a front-end worker (migrations are the supervisor's job)."""
        return cls(Core.open(config, migrate=migrate))

    def session(self, principal: Principal, protocol: str, remote_addr: str,
                session_id: str | None = None,
                guard: Callable[[], None] | None = None) -> Session:
        """The door to files for one authenticated principal."""
        return self._core.session(principal, protocol, remote_addr, session_id, guard)

    def record_negotiation_failure(self, protocol: str, remote_addr: str | None,
                                   session_id: str | None, description: str) -> None:
        """Audit a connection that ended before its key exchange/handshake completed."""
        self._core.record(AuditEvent(action="negotiate", protocol=protocol, result="failed",
                                     remote_addr=remote_addr or None, session_id=session_id,
                                     reason=description))

    def free_bytes(self) -> int | None:
        """Free space of the blob store, if the store can tell (else None)."""
        return self._core.store.free_bytes()

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Access:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
