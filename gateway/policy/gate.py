"""The gate: the one place that decides who may connect, how, and from where.

Front-ends never decide; they describe the attempt and relay the client's credentials:

* WebDAV (one step per request): ``gate.authenticate_basic(attempt, password)``.
* SSH (several steps): ``flow = gate.begin(attempt)``; offer ``flow.methods()``; feed each
  credential the client sends to ``flow.public_key_acceptable`` / ``public_key_verified``
  (only after the SSH library checked the signature) / ``password`` /
  ``kbdint_prompts`` + ``kbdint_answers``. Each step returns a ``StepResult``: ACCEPT with
  the principal, CONTINUE with the methods still required (partial success), or REJECT.

The gate gathers facts and verifies credentials; ``decision.decide`` decides. Every decision
is audited here (action ``login``), with the precise reason in the audit log and only a
generic message (plus, at most, a safe ``hint`` category) for the client.
"""

from __future__ import annotations

import enum
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.catalog.tables import auth_failures, auth_sessions, tenants, users
from gateway.core import Core
from gateway.errors import AuthenticationFailed
from gateway.policy import apppasswords, passwords, sshkeys, totp
from gateway.policy.channels import recheck_methods
from gateway.policy.credcache import CredentialCache
from gateway.policy.decision import (
    F_APP,
    F_KEY,
    F_PASSWORD,
    F_TOTP,
    HINT_APP_PASSWORD,
    Decision,
    Factor,
    Facts,
    TenantFacts,
    UserFacts,
    Verdict,
    decide,
    needs_totp,
)
from gateway.policy.defender import Defender, account_key, address_key
from gateway.policy.enumeration import dummy_password_check, ghost_facts, public_methods
from gateway.policy.identity import Identity
from gateway.policy.lockout import account_ban_blocks, counts_against_account
from gateway.policy.logins import canonical_login
from gateway.policy.model import (
    APP_PASSWORD,
    KBDINT,
    PASSWORD,
    PUBLICKEY,
    tenant_policy_from_settings,
    user_policy_from_settings,
)
from gateway.principal import ALL_PERMISSIONS, READ_ONLY, Principal, parse_rules
from gateway.runstate import pid_alive

SSH_PASSWORD = PASSWORD
SSH_PUBLICKEY = PUBLICKEY
SSH_KBDINT = KBDINT

HINT_TEXTS = {
    HINT_APP_PASSWORD: "this account signs in to WebDAV with an app password "
                       "(create one with: lumanox-gateway app-password create)",
}
#: rules whose refusal is decided before any credential (``begin`` refuses outright)
_PRE_RULES = ("tenant", "protocol", "tenant-network", "defender")
#: of those, the ones that would tell whether a tenant exists: refused only after the
#: same work as a credential check (WebDAV) or at every SSH step (never at once)
_TENANT_RULES = ("tenant", "tenant-network")


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


class TooManySessions(AuthenticationFailed):
    """A tenant or user session limit is reached."""

    reason = "session-limit"


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


@dataclass
class SessionTicket:
    """An admitted session; ``close()`` releases its slot."""

    principal: Principal
    protocol: str
    closed: bool = False
    id: str = ""
    gate: Gate | None = field(default=None, repr=False)

    remote_addr: str = ""
    checked_at: float = 0.0

    def recheck(self, every_s: float = 30.0, protocol: str = "") -> None:
        """Re-decide the session's principal (tenant/user disabled, expired, protocol,
        method or network rules changed) for ``protocol`` (an SSH channel's: ``sftp`` or
        ``scp``; default the ticket's) at most every ``every_s`` seconds; raises
        LoginRefused. Long-lived (SSH) sessions call this before operations."""
        now = time.monotonic()
        if self.gate is None or now - self.checked_at < every_s:
            return
        self.checked_at = now
        self.gate.check_protocol(self.principal, protocol or self.protocol, self.remote_addr)

    def close(self) -> None:
        if not self.closed and self.gate is not None and self.id:
            with self.gate.core.catalog.write() as conn:
                conn.execute(delete(auth_sessions).where(auth_sessions.c.id == self.id))
        self.closed = True


def split_login(login: str) -> tuple[str, str] | None:
    user, sep, tenant = login.rpartition("@")
    return (user, tenant) if sep and user and tenant else None


def _aware(t: datetime | None) -> datetime | None:
    return t if t is None or t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Loaded:
    """Facts of an attempt plus the rows they came from."""

    facts: Facts
    tenant_row: Any
    user_row: Any
    failures: bool = False  # the account has a failure score to clear after a success
    account_banned: str | None = None  # blocks account-password methods only (lockout.py)


class Gate:
    """Authentication and connection policy over the catalog."""

    def __init__(self, core: Core) -> None:
        self.core = core
        pol = getattr(core.config, "policy", None)
        self.credential_cache: CredentialCache[tuple[Facts, Factor, Principal]] = \
            CredentialCache(getattr(pol, "credential_cache_ttl_s", 60),
                            getattr(pol, "credential_cache_size", 10000))
        if pol is not None:
            passwords.configure(pol.argon2_time_cost, pol.argon2_memory_kib,
                                pol.argon2_parallelism)
        self.identity = Identity(core)
        self.defender = Defender(core)
        self.node = core.config.gateway.node_name or socket.gethostname()

    # --- audit ----------------------------------------------------------------------------
    def audit_login(self, attempt: Attempt, result: str, reason: str | None,
                    principal: Principal | None = None, method: str = "",
                    chain: str | None = None) -> None:
        names = split_login(attempt.login)
        ev = AuditEvent(
            action="login", protocol=attempt.label or attempt.protocol, result=result,
            chain=principal.tenant_id if principal else (chain or self._chain_of(names)),
            tenant=principal.tenant_name if principal else (names[1] if names else None),
            user=principal.user_name if principal else (names[0] if names else attempt.login),
            remote_addr=attempt.remote_addr, session_id=attempt.session_id or None,
            reason=("; ".join(x for x in (method and f"method={method}", reason,
                                          attempt.client_version and
                                          f"client={attempt.client_version}") if x)) or None,
        )
        self.core.audit.record(ev)

    def _chain_of(self, names: tuple[str, str] | None) -> str:
        if names is None:
            return NO_TENANT_CHAIN
        with self.core.catalog.read() as conn:
            tid = conn.execute(select(tenants.c.id).where(tenants.c.name == names[1])).scalar()
        return tid or NO_TENANT_CHAIN

    # --- facts --------------------------------------------------------------------------
    def load(self, protocol: str, tenant_name: str, user_name: str,
             remote_addr: str) -> Loaded:
        """Everything the decision needs, in one read transaction."""
        now = datetime.now(UTC)
        with self.core.catalog.read() as conn:
            trow = conn.execute(select(tenants).where(tenants.c.name == tenant_name)).first()
            urow = None if trow is None else conn.execute(select(users).where(
                users.c.tenant_id == trow.id, users.c.name == user_name)).first()
            enrolled = urow is not None and totp.enrolled(conn, urow.id)
            keys = [address_key(remote_addr), account_key(tenant_name, user_name)]
            bans = conn.execute(select(auth_failures.c.key, auth_failures.c.banned_until,
                                       auth_failures.c.score)
                                .where(auth_failures.c.key.in_(keys))).all()
        banned_keys = [b.key for b in bans
                       if b.banned_until is not None and _aware(b.banned_until) > now]
        banned = keys[0] if keys[0] in banned_keys else None  # the address: blocks all
        account_banned = keys[1] if keys[1] in banned_keys else None
        tf = None if trow is None else TenantFacts(
            trow.id, trow.name, bool(trow.disabled), tuple(_json_list(trow.protocols)),
            tenant_policy_from_settings(trow.settings))
        uf = None if urow is None else UserFacts(
            urow.id, urow.name, urow.kind, bool(urow.disabled), _aware(urow.expires_at),
            user_policy_from_settings(urow.settings), enrolled)
        failures = any(b.key == keys[1] and b.score > 0 for b in bans)
        return Loaded(Facts(protocol, remote_addr, tf, uf, now, banned), trow, urow, failures,
                      account_banned)

    def principal(self, loaded: Loaded, method: str, app: apppasswords.AppPassword | None = None,
                  ) -> Principal:
        t, u = loaded.tenant_row, loaded.user_row
        return Principal(
            t.id, t.name, u.id, u.name, u.kind, bool(t.case_insensitive),
            parse_rules(u.permissions),
            scope_prefix=app.prefix if app else "/",
            scope_perms=(READ_ONLY if app.read_only else ALL_PERMISSIONS) if app
            else ALL_PERMISSIONS,
            auth_method=method)

    def _failure(self, attempt: Attempt, names: tuple[str, str], chain: str,
                 account: bool = True) -> None:
        self.defender.failure(attempt.remote_addr, names[1], names[0], chain=chain,
                              protocol=attempt.label or attempt.protocol,
                              account=account and all(names))

    # --- WebDAV --------------------------------------------------------------------------------
    def authenticate_basic(self, attempt: Attempt, password: str) -> Principal:
        """One-step login (HTTP Basic): an account password or an app password.

        Raises AuthenticationFailed (generic message; ``hint`` may name a safe category)."""
        names = canonical_login(attempt.login)
        if names is None:  # refused like a wrong password of an unknown user
            dummy_password_check(password)
            self._failure(attempt, ("", ""), NO_TENANT_CHAIN, account=False)
            self.audit_login(attempt, "denied", "login is not a canonical USER@TENANT")
            raise LoginRefused("login is not a canonical USER@TENANT")
        user_name, tenant_name = names
        hit = self.credential_cache.get(tenant_name, user_name, password) if password else None
        if hit is not None:
            facts, factor, principal = hit
            d = decide(replace(facts, remote_addr=attempt.remote_addr, now=datetime.now(UTC)),
                       (factor,))
            if d.verdict is Verdict.ALLOW:
                return principal  # verified < ttl ago: no new login event
            self.audit_login(attempt, "denied", d.reason, method=factor.method,
                             chain=facts.tenant.id if facts.tenant else None)
            raise LoginRefused(d.reason, rule=d.rules[-1].name)
        loaded = self.load(attempt.protocol, tenant_name, user_name, attempt.remote_addr)
        facts = loaded.facts
        chain = facts.tenant.id if facts.tenant else NO_TENANT_CHAIN
        method = APP_PASSWORD if apppasswords.looks_like(password) else PASSWORD

        pre = decide(facts, ())

        def refuse(reason: str, guess: bool = False, rule: str = "") -> LoginRefused:
            # no hint: whether a password was right must not show (#9.14)
            if guess:
                self._failure(attempt, names, chain, account=counts_against_account(pre))
            self.audit_login(attempt, "denied", reason, method=method, chain=chain)
            return LoginRefused(reason, rule=rule)

        if pre.verdict is Verdict.DENY:
            rule = pre.rules[-1].name
            if rule in _TENANT_RULES:  # the same work and answer as for a wrong password
                dummy_password_check(password)
                raise refuse(pre.reason, guess=True)
            if rule in _PRE_RULES:
                raise refuse(pre.reason, rule=rule)
            if facts.user is None and not self._may_provision(pre, facts):
                if method == APP_PASSWORD:  # same work (and time) as a real check
                    apppasswords.find(self.core, "-", password)
                else:
                    passwords.verify_password(None, password)
                raise refuse(pre.reason, guess=True)
            # other user-level refusals: only after a valid credential (decided below)
        if loaded.account_banned and account_ban_blocks(method):
            dummy_password_check(password)
            raise refuse(f"defender: {loaded.account_banned} is banned")
        app, how, cache_ttl = None, "", None
        if method == APP_PASSWORD and facts.user is not None:
            app = apppasswords.find(self.core, facts.user.id, password)
        if app is not None:
            if app.revoked_at is not None:
                raise refuse(f"app password {app.label!r} revoked", guess=True)
            factor = Factor(F_APP, APP_PASSWORD, tuple(app.networks), _aware(app.expires_at),
                            app.label)
        elif method == APP_PASSWORD:  # shaped like one: never tried as an account password
            raise refuse("no such app password", guess=True)
        else:
            check = self.identity.check(facts.tenant, user_name, loaded.user_row, password)  # type: ignore[arg-type]
            if not check.ok:
                raise refuse(check.reason, guess=check.guessable)
            if loaded.user_row is None or check.account not in ("", user_name):  # LDAP
                user_name = check.account or user_name
                loaded = self.load(attempt.protocol, tenant_name, user_name,
                                   attempt.remote_addr)
                facts = loaded.facts
            factor, how = Factor(F_PASSWORD, PASSWORD), check.reason
            if check.source == "ldap":  # the directory decides: cache only if allowed
                cache_ttl = self.identity.ldap_cache.ttl_s
        d = decide(facts, (factor,))
        if d.verdict is not Verdict.ALLOW:
            raise refuse(d.reason, rule=d.rules[-1].name)
        principal = self.principal(loaded, method, app)
        self.credential_cache.put(tenant_name, user_name, password, (facts, factor, principal),
                                  ttl_s=cache_ttl)
        if loaded.failures:
            self.defender.success(tenant_name, user_name)
        if app is not None:
            apppasswords.touch(self.core, app, facts.now)
        self.audit_login(attempt, "ok", "; ".join(x for x in (how, d.reason) if x), principal,
                         method=method)
        return principal

    @staticmethod
    def _may_provision(pre: Decision, facts: Facts) -> bool:
        """An unknown user of an LDAP tenant may exist in the directory: check it."""
        return (facts.user is None and pre.rules[-1].name == "user"
                and facts.tenant is not None and facts.tenant.policy.identity != "local")

    # --- after login -------------------------------------------------------------------------
    def still_allowed(self, principal: Principal, protocol: str, remote_addr: str) -> Decision:
        """Re-decide an admitted principal now (tenant/user disabled, expired, protocol,
        networks): for per-operation checks and ``check_protocol``."""
        loaded = self.load(protocol, principal.tenant_name, principal.user_name, remote_addr)
        facts = replace(loaded.facts, banned=None)
        if facts.user is not None and facts.user.id != principal.user_id:
            facts = replace(facts, user=None)
        return recheck_methods(decide(facts, ()), facts, principal.auth_method)

    def check_protocol(self, principal: Principal, protocol: str, remote_addr: str) -> None:
        """Raise AuthenticationFailed if ``protocol`` is not allowed now (e.g. legacy scp,
        known only when the client asks for it). Audited when refused."""
        d = self.still_allowed(principal, protocol, remote_addr)
        if d.verdict is Verdict.DENY:
            attempt = Attempt(protocol, principal.display, remote_addr)
            self.audit_login(attempt, "denied", d.reason, principal)
            raise LoginRefused(d.reason, rule=d.rules[-1].name)

    def open_session(self, principal: Principal, protocol: str, remote_addr: str) -> SessionTicket:
        """Admit one more session of this principal (session limits of tenant and user,
        counted across processes in the catalog). Close the ticket at the end of the
        session. Raises ``TooManySessions``."""
        loaded = self.load(protocol, principal.tenant_name, principal.user_name, remote_addr)
        t, u = loaded.facts.tenant, loaded.facts.user
        if t is None or u is None:
            raise LoginRefused("account gone")
        user_limits = [x for x in (t.policy.max_sessions_per_user, u.policy.max_sessions)
                       if x is not None]
        sid = uuid.uuid4().hex
        with self.core.catalog.write() as conn:
            self._reap(conn)
            base = select(func.count()).select_from(auth_sessions).where(
                auth_sessions.c.tenant_id == t.id)
            if t.policy.max_sessions is not None and \
                    conn.execute(base).scalar_one() >= t.policy.max_sessions:
                detail = f"tenant session limit {t.policy.max_sessions} reached"
            elif user_limits and conn.execute(base.where(
                    auth_sessions.c.user_id == u.id)).scalar_one() >= min(user_limits):
                detail = f"user session limit {min(user_limits)} reached"
            else:
                detail = ""
                conn.execute(auth_sessions.insert().values(
                    id=sid, tenant_id=t.id, user_id=u.id, protocol=protocol,
                    remote_addr=remote_addr[:64], node=self.node[:128], pid=os.getpid(),
                    started_at=datetime.now(UTC)))
        if detail:
            self.audit_login(Attempt(protocol, principal.display, remote_addr), "denied",
                             detail, principal)
            raise TooManySessions(detail)
        return SessionTicket(principal, protocol, id=sid, gate=self, remote_addr=remote_addr,
                             checked_at=time.monotonic())

    def _reap(self, conn) -> None:  # type: ignore[no-untyped-def]
        """Forget sessions of processes of this node that no longer run."""
        rows = conn.execute(select(auth_sessions.c.id, auth_sessions.c.pid).where(
            auth_sessions.c.node == self.node[:128])).all()
        dead = [r.id for r in rows if not pid_alive(r.pid)]
        if dead:
            conn.execute(delete(auth_sessions).where(auth_sessions.c.id.in_(dead)))

    # --- SSH -----------------------------------------------------------------------------------
    def begin(self, attempt: Attempt) -> LoginFlow:
        """Start a multi-step login; raises AuthenticationFailed if refused outright
        (tenant, protocol, tenant network, defender ban: nothing about the user)."""
        # a login that is not canonical, an unknown or refused tenant: a flow that refuses
        # every credential after the usual work, offering the usual methods (#9.15)
        names = canonical_login(attempt.login) or ("", "")
        loaded = self.load(attempt.protocol, names[1], names[0], attempt.remote_addr)
        tenant = loaded.facts.tenant
        if attempt.protocol == "sftp" and tenant is not None and \
                "sftp" not in tenant.protocols and "scp" in tenant.protocols:
            # one SSH login serves both; a tenant that allows only (legacy) scp logs in under
            # the scp rules and each channel is checked for its own protocol
            attempt = replace(attempt, protocol="scp")
            loaded = self.load("scp", names[1], names[0], attempt.remote_addr)
        pre = decide(loaded.facts, ())
        if pre.verdict is Verdict.DENY and pre.rules[-1].name == "defender":  # the address
            self.audit_login(attempt, "denied", pre.reason,
                             chain=loaded.facts.tenant.id if loaded.facts.tenant else None)
            raise LoginRefused(pre.reason, rule=pre.rules[-1].name)
        return LoginFlow(self, attempt, names, loaded=loaded)


def _json_list(text: str) -> list[str]:
    return list(json.loads(text))


    return True


_CODE_PROMPT = "Verification code: "
_PASSWORD_PROMPT = "Password: "  # noqa: S105 - a prompt


@dataclass
class LoginFlow:
    """One SSH login in progress (factors verified so far, what is still needed)."""

    gate: Gate
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
            self.gate._failure(self.attempt, self.names, self._chain(),
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
        f = Factor(F_KEY, PUBLICKEY, tuple(key.networks), _aware(key.expires_at),
                   key.fingerprint)
        return decide(self.facts, (*self.factors, f)).verdict is not Verdict.DENY

    def public_key_verified(self, key_openssh: str) -> StepResult:
        """The SSH library verified a signature by this key: count it as a factor."""
        key = self._usable_key(key_openssh)
        if key is None:
            return self._refuse("no such key for this user", PUBLICKEY, guess=False)
        f = Factor(F_KEY, PUBLICKEY, tuple(key.networks), _aware(key.expires_at),
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
                                guess=d.rules[-1].name in ("user", *_TENANT_RULES))
        problem = self._check_password(password)
        if problem:
            return self._refuse(problem[0], PASSWORD, guess=problem[1])
        return self._step([hypothetical], PASSWORD)

    def _may_provision(self, d: Decision) -> bool:
        return Gate._may_provision(d, self.facts)

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
                                    guess=d.rules[-1].name in ("user", *_TENANT_RULES))
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


# keep the names used elsewhere importable from here
__all__ = ["REJECT", "Attempt", "Gate", "LoginFlow", "LoginRefused", "Outcome", "SessionTicket",
           "StepResult", "TooManySessions", "split_login"]
