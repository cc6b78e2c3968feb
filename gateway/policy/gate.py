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

Its parts, along their seams: ``attempts`` (what an attempt and a step's answer are),
``facts`` (what a decision needs, read in one transaction), ``slots`` (session limits:
``open_session``, ``SessionTicket``), ``sshflow`` (the SSH ``LoginFlow``). The names
front-ends and tests use stay importable from here.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select

from gateway.audit import NO_TENANT_CHAIN, AuditEvent
from gateway.catalog.tables import tenants
from gateway.core import Core
from gateway.policy import apppasswords, passwords
from gateway.policy.attempts import (
    HINT_TEXTS,
    PRE_RULES,
    REJECT,
    SSH_KBDINT,
    SSH_PASSWORD,
    SSH_PUBLICKEY,
    TENANT_RULES,
    Attempt,
    LoginRefused,
    Outcome,
    StepResult,
)
from gateway.policy.channels import recheck_methods
from gateway.policy.credcache import CredentialCache
from gateway.policy.decision import (
    F_APP,
    F_PASSWORD,
    Decision,
    Factor,
    Facts,
    Verdict,
    decide,
)
from gateway.policy.defender import Defender
from gateway.policy.enumeration import dummy_password_check
from gateway.policy.facts import Loaded, aware, load, may_provision, principal_of
from gateway.policy.identity import Identity
from gateway.policy.lockout import account_ban_blocks, counts_against_account
from gateway.policy.logins import canonical_login, split_login
from gateway.policy.model import APP_PASSWORD, PASSWORD
from gateway.policy.slots import SessionTicket, TooManySessions, open_session
from gateway.policy.sshflow import LoginFlow
from gateway.principal import Principal


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
        names = canonical_login(attempt.login)
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
        """Everything the decision needs, in one read transaction (``facts.load``)."""
        return load(self.core, protocol, tenant_name, user_name, remote_addr)

    def principal(self, loaded: Loaded, method: str,
                  app: apppasswords.AppPassword | None = None) -> Principal:
        return principal_of(loaded, method, app)

    def failure(self, attempt: Attempt, names: tuple[str, str], chain: str,
                account: bool = True) -> None:
        """Count a failed attempt against the address (and the account, if ``account``)."""
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
            self.failure(attempt, ("", ""), NO_TENANT_CHAIN, account=False)
            self.audit_login(attempt, "denied", "login is not a canonical USER@TENANT")
            raise LoginRefused("login is not a canonical USER@TENANT")
        user_name, tenant_name = names
        hit = self.credential_cache.get(tenant_name, user_name, password) if password else None
        if hit is not None:
            facts, factor, principal = hit
            # the cached facts do not know of bans made since: the address is checked
            # against the defender's shared ban list (a snapshot of at most 1 s)
            d = decide(replace(facts, remote_addr=attempt.remote_addr, now=datetime.now(UTC),
                               banned=self.defender.address_banned(attempt.remote_addr)),
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
                self.failure(attempt, names, chain, account=counts_against_account(pre))
            self.audit_login(attempt, "denied", reason, method=method, chain=chain)
            return LoginRefused(reason, rule=rule)

        if pre.verdict is Verdict.DENY:
            rule = pre.rules[-1].name
            if rule in TENANT_RULES:  # the same work and answer as for a wrong password
                dummy_password_check(password)
                raise refuse(pre.reason, guess=True)
            if rule in PRE_RULES:
                raise refuse(pre.reason, rule=rule)
            if facts.user is None and not may_provision(pre, facts):
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
            factor = Factor(F_APP, APP_PASSWORD, tuple(app.networks), aware(app.expires_at),
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
        """Admit one more session of this principal (``slots.open_session``); close the
        ticket at the end of the session. Raises ``TooManySessions``."""
        return open_session(self, principal, protocol, remote_addr)

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



# the names front-ends and tests import from here
__all__ = ["HINT_TEXTS", "REJECT", "SSH_KBDINT", "SSH_PASSWORD", "SSH_PUBLICKEY", "Attempt",
           "Gate", "Loaded", "LoginFlow", "LoginRefused", "Outcome", "SessionTicket",
           "StepResult", "TooManySessions", "split_login"]
