"""What a login attempt is and what a step of it answers (shared by the gate and the
SSH login flow): ``Attempt``, ``Outcome``/``StepResult``, ``LoginRefused`` and the rule
groups that decide when a refusal may be told.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import AuthenticationFailed
from gateway.policy.decision import HINT_APP_PASSWORD
from gateway.policy.model import KBDINT, PASSWORD, PUBLICKEY
from gateway.principal import Principal

SSH_PASSWORD = PASSWORD
SSH_PUBLICKEY = PUBLICKEY
SSH_KBDINT = KBDINT

HINT_TEXTS = {
    HINT_APP_PASSWORD: "this account signs in to WebDAV with an app password "
                       "(create one with: lumanox-gateway app-password create)",
}
#: rules whose refusal is decided before any credential (``begin`` refuses outright)
PRE_RULES = ("tenant", "protocol", "tenant-network", "defender")
#: of those, the ones that would tell whether a tenant exists: refused only after the
#: same work as a credential check (WebDAV) or at every SSH step (never at once)
TENANT_RULES = ("tenant", "tenant-network")


@dataclass(frozen=True)
class Attempt:
    """What a front-end knows about a login before any credential is checked."""

    protocol: str  # webdav | sftp | scp: whose rules decide the login
    login: str  # as the client gave it: USER@TENANT
    remote_addr: str
    client_version: str = ""
    session_id: str = ""
    label: str = ""  # the audit label of the login if not ``protocol`` (SSH logins: "ssh")


class Outcome(enum.Enum):
    ACCEPT = "accept"
    CONTINUE = "continue"
    REJECT = "reject"


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    principal: Principal | None = None
    next_methods: tuple[str, ...] = ()


REJECT = StepResult(Outcome.REJECT)


class LoginRefused(AuthenticationFailed):
    """A refused login; ``hint`` (a category) and ``hint_text`` are safe for the client."""

    def __init__(self, detail: str, hint: str = "", rule: str = "") -> None:
        super().__init__(detail)
        self.hint = hint
        self.hint_text = HINT_TEXTS.get(hint, "")
        #: the decision rule that refused: set only for tenant-level rules (``protocol``,
        #: ``tenant``, ``tenant-network``, ``defender``) or after a VALID credential, so it
        #: never tells an unauthenticated client anything about an account
        self.rule = rule
