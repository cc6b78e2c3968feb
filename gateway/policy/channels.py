"""An SSH login's methods, re-checked for the channel's protocol (#9.5).

One SSH login serves both the ``sftp`` subsystem and legacy ``scp``; the login is decided
under the sftp rules (or scp's, for a tenant with scp only). When a channel asks for a
protocol, the methods actually used at the login must be allowed for THAT protocol too:
a tenant with ``scp = ["publickey"]`` refuses ``scp -O`` after a password login.
"""

from __future__ import annotations

from gateway.policy.decision import Decision, Facts, Rule, Verdict, allowed_methods


def login_methods(auth_method: str) -> tuple[str, ...]:
    """The methods of a principal's login (``Principal.auth_method``, ``+``-joined)."""
    return tuple(m for m in auth_method.split("+") if m)


def recheck_methods(decision: Decision, facts: Facts, auth_method: str) -> Decision:
    """``decision`` unless a method used at login is not allowed for ``facts.protocol``."""
    if decision.verdict is Verdict.DENY or facts.tenant is None or facts.user is None:
        return decision
    allowed = allowed_methods(facts)
    bad = [m for m in login_methods(auth_method) if m not in allowed]
    if not bad:
        return decision
    rule = Rule("method", False, f"logged in with {', '.join(bad)}, not allowed for "
                f"{facts.protocol} (allowed: {', '.join(allowed) or 'none'})")
    return Decision(Verdict.DENY, (*decision.rules, rule))
