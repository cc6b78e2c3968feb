"""THE decision: ``decide(facts, factors) -> Decision`` for every protocol.

Pure function (no I/O): the gate gathers the facts (tenant, user, policy, TOTP enrolment,
defender state) and the factors verified so far, and obeys the result. Every rule that was
evaluated is returned, in order, so ``policy explain`` and the audit log show why.

Second factor by design: the set of SSH methods a user may use is computed from the same
rules as the sufficiency of the factors, so "password alone" is never offered to, and
never accepted from, a user who needs TOTP — a client falling back from
keyboard-interactive to ``password`` gets REJECT, not a login. WebDAV humans who need TOTP
authenticate with app passwords only; machine accounts never use an account password.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.policy.model import (
    APP_PASSWORD,
    KBDINT,
    PASSWORD,
    PUBLICKEY,
    TenantPolicy,
    UserPolicy,
)
from gateway.policy.networks import address_in

# factor kinds (what was proven) -- the SSH/HTTP method that carried it is Factor.method
F_PASSWORD = "password"  # noqa: S105 - account password (local or LDAP)
F_KEY = "publickey"
F_APP = "app-password"
F_TOTP = "totp"

#: hint categories a front-end may show to a client (say nothing about the account itself)
HINT_APP_PASSWORD = "app-password-required"  # noqa: S105
#: the detail of the "credential" rule when an expired key or app password was tried: the
#: audited reason starts "credential: expired: " (the alert rule ``expired_credential``)
CREDENTIAL_EXPIRED = "expired"


class Verdict(enum.Enum):
    ALLOW = "allow"
    CONTINUE = "continue"
    DENY = "deny"


@dataclass(frozen=True)
class TenantFacts:
    id: str
    name: str
    disabled: bool
    protocols: tuple[str, ...]
    policy: TenantPolicy


@dataclass(frozen=True)
class UserFacts:
    id: str
    name: str
    kind: str  # human | machine
    disabled: bool
    expires_at: datetime | None
    policy: UserPolicy
    totp_enrolled: bool


@dataclass(frozen=True)
class Facts:
    protocol: str
    remote_addr: str
    tenant: TenantFacts | None
    user: UserFacts | None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    banned: str | None = None  # defender key currently banned


@dataclass(frozen=True)
class Factor:
    """A verified credential: what it proves (kind), how it came (method), its own limits."""

    kind: str
    method: str
    networks: tuple[str, ...] = ()
    expires_at: datetime | None = None
    label: str = ""


@dataclass(frozen=True)
class Rule:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    rules: tuple[Rule, ...]
    next_methods: tuple[str, ...] = ()
    hint: str = ""

    @property
    def reason(self) -> str:
        """The audit reason: the failed rule, or (allow/continue) the second-factor rule and
        the last rule."""
        for r in self.rules:
            if not r.passed:
                return f"{r.name}: {r.detail}"
        shown = [r for r in self.rules if r.name == "second-factor"] + list(self.rules[-1:])
        return "; ".join(dict.fromkeys(f"{r.name}: {r.detail}" for r in shown))

    def explain(self) -> str:
        lines = [f"decision: {self.verdict.value.upper()}"
                 + (f" (next: {', '.join(self.next_methods)})" if self.next_methods else "")]
        lines += [f"  [{'ok' if r.passed else 'NO'}] {r.name}: {r.detail}" for r in self.rules]
        return "\n".join(lines)


def _aware(t: datetime | None) -> datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=UTC)


def allowed_methods(facts: Facts) -> tuple[str, ...]:
    """Methods of the protocol allowed by the tenant AND the user (intersection)."""
    assert facts.tenant is not None
    methods = set(facts.tenant.policy.methods.get(facts.protocol, ()))
    user = facts.user
    if user is not None and user.policy.methods is not None:
        methods &= set(user.policy.methods.get(facts.protocol, methods))
    order = (PUBLICKEY, KBDINT, PASSWORD, APP_PASSWORD)
    return tuple(m for m in order if m in methods)


def needs_totp(facts: Facts) -> tuple[bool, str]:
    """(TOTP required now?, why) for a human; machines never use TOTP."""
    assert facts.tenant is not None and facts.user is not None
    u, tp = facts.user, facts.tenant.policy
    if u.kind != "human":
        return False, "machine account: no interactive second factor (keys/app passwords only)"
    if u.totp_enrolled:
        return True, "user has confirmed TOTP"
    if tp.second_factor == "required" or u.policy.second_factor == "required":
        deadline = tp.grace_deadline()
        if deadline is not None and _aware(deadline) > facts.now:  # type: ignore[operator]
            return False, f"2FA required; enrolment grace until {deadline.isoformat()}"
        return True, "2FA required and not enrolled (grace over)"
    return False, "second factor off"


def decide(facts: Facts, factors: tuple[Factor, ...] = ()) -> Decision:
    """Decide an attempt given the credentials verified so far."""
    rules: list[Rule] = []

    def deny(name: str, detail: str, hint: str = "") -> Decision:
        rules.append(Rule(name, False, detail))
        return Decision(Verdict.DENY, tuple(rules), hint=hint)

    def ok(name: str, detail: str) -> None:
        rules.append(Rule(name, True, detail))

    t, u, proto, addr = facts.tenant, facts.user, facts.protocol, facts.remote_addr
    # --- who and from where -------------------------------------------------------------
    if t is None:
        return deny("tenant", "unknown tenant")
    if t.disabled:
        return deny("tenant", "tenant disabled")
    ok("tenant", f"{t.name} enabled")
    if proto not in t.protocols:
        return deny("protocol",
                    f"{proto} not allowed for tenant (allowed: {', '.join(t.protocols)})")
    ok("protocol", f"{proto} allowed for tenant")
    if t.policy.networks and not address_in(addr, t.policy.networks):
        return deny("tenant-network", f"{addr} outside tenant networks")
    ok("tenant-network", "any address" if not t.policy.networks else f"{addr} in tenant networks")
    if facts.banned:
        return deny("defender", f"{facts.banned} is banned")
    ok("defender", "not banned")
    if u is None:
        return deny("user", "unknown user")
    if u.disabled:
        return deny("user", "account disabled")
    if u.expires_at is not None and _aware(u.expires_at) <= facts.now:  # type: ignore[operator]
        return deny("user", "account expired")
    ok("user", f"{u.name} ({u.kind}) enabled")
    if u.policy.protocols is not None and proto not in u.policy.protocols:
        return deny("user-protocol", f"{proto} not allowed for this user")
    if u.kind == "machine" and not u.policy.networks:
        return deny("user-network", "machine account without a network list")
    if u.policy.networks and not address_in(addr, u.policy.networks):
        return deny("user-network", f"{addr} outside user networks")
    ok("user-network", "any address" if not u.policy.networks else f"{addr} in user networks")
    # --- each credential ------------------------------------------------------------------
    methods = allowed_methods(facts)
    for f in factors:
        if f.networks and not address_in(addr, f.networks):
            return deny("credential-network", f"{addr} outside the networks of {f.kind} {f.label}")
        if f.expires_at is not None and _aware(f.expires_at) <= facts.now:  # type: ignore[operator]
            return deny("credential", f"{CREDENTIAL_EXPIRED}: {f.kind} {f.label}")
        if f.method not in methods:
            return deny("method", f"{f.method} not allowed for {proto} "
                        f"(allowed: {', '.join(methods) or 'none'})")
    if factors:
        ok("credentials", ", ".join(f"{f.kind} via {f.method}" for f in factors))
    # --- sufficiency --------------------------------------------------------------------
    totp_needed, why = needs_totp(facts)
    ok("second-factor", why)
    kinds = {f.kind for f in factors}
    if proto == "webdav":
        return _webdav(facts, kinds, totp_needed, methods, rules, deny)
    return _ssh(facts, factors, kinds, totp_needed, methods, rules, deny)


def _webdav(facts: Facts, kinds: set[str], totp_needed: bool, methods: tuple[str, ...],
            rules: list[Rule], deny) -> Decision:  # type: ignore[no-untyped-def]
    assert facts.user is not None
    if F_TOTP in kinds or F_KEY in kinds:
        return deny("webdav", "only passwords and app passwords exist over WebDAV")
    if F_PASSWORD in kinds:
        if facts.user.kind == "machine":
            return deny("webdav", "machine accounts use app passwords, not the account password",
                        HINT_APP_PASSWORD)
        if totp_needed:
            return deny("webdav", "2FA user: account password refused over WebDAV; use an app "
                        "password", HINT_APP_PASSWORD)
    if kinds & {F_PASSWORD, F_APP}:
        rules.append(Rule("sufficient", True, "one WebDAV credential is enough"))
        return Decision(Verdict.ALLOW, tuple(rules))
    password_ok = facts.user.kind == "human" and not totp_needed
    nxt = tuple(m for m in methods if m == APP_PASSWORD or (m == PASSWORD and password_ok))
    rules.append(Rule("sufficient", True, f"needs one of: {', '.join(nxt) or 'nothing allowed'}"))
    return Decision(Verdict.CONTINUE if nxt else Verdict.DENY, tuple(rules), nxt)


def _ssh(facts: Facts, factors: tuple[Factor, ...], kinds: set[str], totp_needed: bool,
         methods: tuple[str, ...], rules: list[Rule], deny) -> Decision:  # type: ignore[no-untyped-def]
    assert facts.user is not None
    if F_APP in kinds:
        return deny("ssh", "app passwords are for WebDAV only")
    machine = facts.user.kind == "machine"
    if machine and F_PASSWORD in kinds:
        return deny("ssh", "machine accounts use keys, not the account password")
    if F_TOTP in kinds and not totp_needed:
        return deny("ssh", "TOTP given but not enrolled/required")
    if totp_needed and any(f.method == PASSWORD for f in factors):
        return deny("ssh", "2FA user: the plain password method is never accepted")
    first = bool(kinds & {F_KEY, F_PASSWORD})
    if first and (F_TOTP in kinds or not totp_needed):
        rules.append(Rule("sufficient", True, " + ".join(sorted(kinds))))
        return Decision(Verdict.ALLOW, tuple(rules))
    # what may come next
    if machine:
        nxt: tuple[str, ...] = (PUBLICKEY,) if PUBLICKEY in methods else ()
    elif not totp_needed:
        nxt = methods
    elif not first:
        nxt = tuple(m for m in methods if m in (PUBLICKEY, KBDINT))  # never plain password
    else:
        nxt = (KBDINT,) if KBDINT in methods else ()
    if not nxt:
        return deny("sufficient", "no allowed method can complete this login"
                    + (" (TOTP needs keyboard-interactive)" if totp_needed else ""))
    need = "key or password, then TOTP" if totp_needed and not first else \
        "TOTP" if totp_needed else "one credential"
    rules.append(Rule("sufficient", True, f"needs {need}: next {', '.join(nxt)}"))
    return Decision(Verdict.CONTINUE, tuple(rules), nxt)
