"""The front-ends' view of the core: sessions, the Gate, configuration values, and the few
audit records that belong to no session.

WebDAV and SFTP receive an ``Access``, never the ``Core``: nothing here hands out the
catalog, the blob store, the keyring or the audit log, so a front-end cannot reach them
(import-linter contracts in pyproject.toml keep the imports out as well).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.audit import AuditEvent
from gateway.config import Config
from gateway.core import Core
from gateway.metrics import active as metrics_active
from gateway.policy.gate import Gate
from gateway.principal import Principal
from gateway.session import Session

if TYPE_CHECKING:
    from gateway.metrics.process import Counting


class Access:
    """One per front-end process; built over that process's ``Core``."""

    def __init__(self, core: Core, gate: Gate | None = None) -> None:
        self._core = core
        self.config: Config = core.config
        self.gate: Gate = gate or Gate(core)
        self._counting: Counting | None = None

    @classmethod
    def open(cls, config: Config, *, migrate: bool | None = False) -> Access:
        """Open the core for a front-end worker (migrations are the supervisor's job);
        under ``serve`` with metrics enabled, this process counts (gateway/metrics)."""
        access = cls(Core.open(config, migrate=migrate))
        if metrics_active(config):
            from gateway.metrics.process import install

            access._counting = install(access._core)
        return access

    def session_began(self, principal: Principal, protocol: str) -> None:
        """A front-end's session opened (an SSH connection admitted, a WebDAV request
        authenticated): the ``sessions_open`` gauge; ``session_ended`` closes it."""
        if self._counting is not None:
            self._counting.session(protocol, principal.tenant_name, 1)

    def session_ended(self, principal: Principal, protocol: str) -> None:
        if self._counting is not None:
            self._counting.session(protocol, principal.tenant_name, -1)

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
        counting, self._counting = self._counting, None
        if counting is not None:
            counting.close()
        self._core.close()

    def __enter__(self) -> Access:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
