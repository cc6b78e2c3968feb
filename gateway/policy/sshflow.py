"""The SSH login flow: one login in several steps (public key, password,
keyboard-interactive with a one-time code), each decided by ``decision.decide`` over the
facts loaded when the flow began; every step is audited through the gate.

Before any credential, what is offered and asked is what any human of the tenant would
be offered and asked, so a flow never tells whether an account exists (#9.15).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.audit import NO_TENANT_CHAIN
from gateway.policy import sshkeys, totp
from gateway.policy.attempts import REJECT, TENANT_RULES, Attempt, Outcome, StepResult
from gateway.policy.decision import (
    CREDENTIAL_EXPIRED,
    F_KEY,
    F_PASSWORD,
    F_TOTP,
    Decision,
    Factor,
    Facts,
    Verdict,
    decide,
    needs_totp,
)
from gateway.policy.defender import account_key, address_key
from gateway.policy.enumeration import dummy_password_check, ghost_facts, public_methods
from gateway.policy.facts import Loaded, aware, may_provision
from gateway.policy.lockout import counts_against_account
from gateway.policy.model import KBDINT, PASSWORD, PUBLICKEY

if TYPE_CHECKING:
    from gateway.policy.gatelike import GateLike


_CODE_PROMPT = "Verification code: "
_PASSWORD_PROMPT = "Password: "  # noqa: S105 - a prompt


@dataclass
class LoginFlow:
    """One SSH login in progress (factors verified so far, what is still needed)."""

    gate: GateLike
    attempt: Attempt
    names: tuple[str, str]
    done: set[str] = field(default_factory=set)
    loaded: Loaded | None = None
    factors: list[Factor] = field(default_factory=list)
    _asked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.loaded is None:
            self.loaded = self.gate.load(self.attempt.protocol, self.names[1], self.names[0],
                                         self.attempt.remote_addr)

    @property
    def facts(self) -> Facts:
        assert self.loaded is not None
        return self.loaded.facts

    def _chain(self) -> str:
        return self.facts.tenant.id if self.facts.tenant else NO_TENANT_CHAIN

    def _as_if_human(self) -> Facts:
        """Facts to compute offered methods for an unknown/refused user: a plain human,
        so that what is offered does not reveal whether the account exists."""
        f = self.facts
        if f.user is not None and f.tenant is not None:
            d = decide(f, tuple(self.factors))
            if d.verdict is not Verdict.DENY:
                return f
        return ghost_facts(f, self.names[0])

    def methods(self) -> tuple[str, ...]:
        """SSH method names to offer now (what can still complete this login): before
        any credential those of any human of the tenant, whoever the account is."""
        if not self.factors:
            return public_methods(self.facts, self.names[0])
        d = decide(self._as_if_human(), tuple(self.factors))
        return d.next_methods

    # --- steps ----------------------------------------------------------------------------
    def _step(self, new: list[Factor], method: str) -> StepResult:
        factors = tuple(self.factors + new)
        d = decide(self.facts, factors)
        if d.verdict is Verdict.DENY:
            self.gate.audit_login(self.attempt, "denied", d.reason, method=method,
                                  chain=self._chain())
            return REJECT
        self.factors = list(factors)
        self.done.add(method)
        if d.verdict is Verdict.CONTINUE:
            self.gate.audit_login(self.attempt, "ok", f"partial success; {d.reason}",
                                  method=method, chain=self._chain())
            return StepResult(Outcome.CONTINUE, next_methods=d.next_methods)
        assert self.loaded is not None
        principal = self.gate.principal(self.loaded, "+".join(sorted(self.done)))
        if self.loaded.failures:
            self.gate.defender.success(self.names[1], self.names[0])
        self.gate.audit_login(self.attempt, "ok", d.reason, principal, method=method)
        return StepResult(Outcome.ACCEPT, principal)

    def _refuse(self, reason: str, method: str, guess: bool) -> StepResult:
        if guess:
            self.gate.failure(self.attempt, self.names, self._chain(),
                               account=counts_against_account(decide(self.facts, ())))
        self.gate.audit_login(self.attempt, "denied", reason, method=method, chain=self._chain())
        return REJECT

    def _usable_key(self, key_openssh: str) -> sshkeys.SshKey | None:
        u = self.facts.user
        return None if u is None else sshkeys.find_key(self.gate.core, u.id, key_openssh)

    def public_key_acceptable(self, key_openssh: str) -> bool:
        """Whether a signature with this key would be accepted (no audit: a probe)."""
        key = self._usable_key(key_openssh)
        if key is None:
            return False
        f = Factor(F_KEY, PUBLICKEY, tuple(key.networks), aware(key.expires_at),
                   key.fingerprint)
        d = decide(self.facts, (*self.factors, f))
        if d.verdict is Verdict.DENY and d.reason.startswith(f"credential: {CREDENTIAL_EXPIRED}:"):
            # the user's own key, expired: audited (OpenSSH never signs with a refused key)
            self.gate.audit_login(self.attempt, "denied", d.reason, method=PUBLICKEY,
                                  chain=self._chain())
        return d.verdict is not Verdict.DENY

    def public_key_verified(self, key_openssh: str) -> StepResult:
        """The SSH library verified a signature by this key: count it as a factor."""
        key = self._usable_key(key_openssh)
        if key is None:
            return self._refuse("no such key for this user", PUBLICKEY, guess=False)
        f = Factor(F_KEY, PUBLICKEY, tuple(key.networks), aware(key.expires_at),
                   key.fingerprint)
        result = self._step([f], PUBLICKEY)
        if result.outcome is not Outcome.REJECT:
            sshkeys.touch(self.gate.core, key)
        return result

    def _banned_now(self, account: bool = True) -> str | None:
        """A ban that started during this connection (facts were loaded at ``begin``); the
        account's ban counts only for account-password methods (lockout.py)."""
        keys = [address_key(self.attempt.remote_addr)]
        if account and all(self.names):
            keys.append(account_key(self.names[1], self.names[0]))
        return self.gate.defender.banned(keys)

    def _check_password(self, password: str) -> tuple[str, bool] | None:
        """Verify the account password; None if right, else (audit reason, counts as a
        guess for the defender)."""
        banned = self._banned_now()
        if banned:
            return f"defender: {banned} is banned", False
        facts = self.facts
        if facts.tenant is None:
            dummy_password_check(password)
            return "unknown tenant", True
        check = self.gate.identity.check(facts.tenant, self.names[0],
                                         self.loaded.user_row if self.loaded else None, password)
        if not check.ok:
            return check.reason, check.guessable
        if self.loaded is not None and (self.loaded.user_row is None or check.account not in (
                "", self.names[0])):  # provisioned or bound by the directory (LDAP)
            self.names = (check.account or self.names[0], self.names[1])
            self.loaded = self.gate.load(self.attempt.protocol, self.names[1], self.names[0],
                                         self.attempt.remote_addr)
        return None

    def password(self, password: str) -> StepResult:
        """The SSH ``password`` method. Refused without even checking the password when
        the decision would not accept it (e.g. a 2FA user: never a password-only login)."""
        hypothetical = Factor(F_PASSWORD, PASSWORD)
        d = decide(self.facts, (*self.factors, hypothetical))
        if d.verdict is Verdict.DENY and not self._may_provision(d):
            dummy_password_check(password)  # a refusal takes a check's time
            return self._refuse(d.reason, PASSWORD,
                                guess=d.rules[-1].name in ("user", *TENANT_RULES))
        problem = self._check_password(password)
        if problem:
            return self._refuse(problem[0], PASSWORD, guess=problem[1])
        return self._step([hypothetical], PASSWORD)

    def _may_provision(self, d: Decision) -> bool:
        return may_provision(d, self.facts)

    def kbdint_prompts(self) -> list[tuple[str, bool]]:
        """(prompt, echo) pairs for the next keyboard-interactive round: the password
        (and the TOTP code in the same round when the user needs it), or only the code
        after a public key."""
        # before any credential: the prompts of any human of the tenant (#9.15)
        f = self._as_if_human() if self.factors else ghost_facts(self.facts, self.names[0])
        have_first = any(x.kind in (F_KEY, F_PASSWORD) for x in self.factors)
        need_code = needs_totp(f)[0] if f.user is not None and f.tenant is not None else False
        asked = [] if have_first else [_PASSWORD_PROMPT]
        if need_code:
            asked.append(_CODE_PROMPT)
        self._asked = asked
        return [(p, p == _CODE_PROMPT) for p in asked]

    def kbdint_answers(self, answers: list[str]) -> StepResult:
        asked = self._asked or [p for p, _ in self.kbdint_prompts()]
        self._asked = []
        if not asked or len(answers) != len(asked):
            return self._refuse("keyboard-interactive: unexpected number of answers", KBDINT,
                                guess=False)
        new: list[Factor] = []
        given = dict(zip(asked, answers, strict=True))
        if _PASSWORD_PROMPT in given:
            pw_factor = Factor(F_PASSWORD, KBDINT)
            d = decide(self.facts, (*self.factors, pw_factor))
            if d.verdict is Verdict.DENY and not self._may_provision(d):
                dummy_password_check(given[_PASSWORD_PROMPT])  # same time
                return self._refuse(d.reason, KBDINT,
                                    guess=d.rules[-1].name in ("user", *TENANT_RULES))
            problem = self._check_password(given[_PASSWORD_PROMPT])
            if problem:
                return self._refuse(problem[0], KBDINT, guess=problem[1])
            new.append(pw_factor)
        if _CODE_PROMPT in given:
            u, t = self.facts.user, self.facts.tenant
            if _PASSWORD_PROMPT not in given and self._banned_now(account=False):
                return self._refuse("defender: banned during this connection", KBDINT,
                                    guess=False)
            if u is None or t is None or not totp.verify(self.gate.core, t.id, u.id,
                                                         given[_CODE_PROMPT]):
                return self._refuse("wrong, reused or expired TOTP code", KBDINT, guess=True)
            new.append(Factor(F_TOTP, KBDINT))
        return self._step(new, KBDINT)
