"""What the Gate's parts (``slots``, ``sshflow``) use of the Gate they serve: a Protocol,
so that they depend on this small surface and not on ``gate`` (no import circle)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gateway.core import Core
    from gateway.policy.apppasswords import AppPassword
    from gateway.policy.attempts import Attempt
    from gateway.policy.defender import Defender
    from gateway.policy.facts import Loaded
    from gateway.policy.identity import Identity
    from gateway.principal import Principal


class GateLike(Protocol):
    """The Gate as its parts see it (``gateway.policy.gate.Gate`` implements it)."""

    core: Core
    identity: Identity
    defender: Defender
    node: str

    def audit_login(self, attempt: Attempt, result: str, reason: str | None,
                    principal: Principal | None = None, method: str = "",
                    chain: str | None = None) -> None: ...

    def load(self, protocol: str, tenant_name: str, user_name: str,
             remote_addr: str) -> Loaded: ...

    def principal(self, loaded: Loaded, method: str,
                  app: AppPassword | None = None) -> Principal: ...

    def failure(self, attempt: Attempt, names: tuple[str, str], chain: str,
                account: bool = True) -> None: ...

    def check_protocol(self, principal: Principal, protocol: str, remote_addr: str) -> None: ...
