"""Account bans without lock-out by anyone (#9.13).

The defender scores failures per source address and per account. An account ban exists
to stop password GUESSING, so it blocks only the methods that check a guessable secret
(the account password: SSH ``password`` and the password of ``keyboard-interactive``,
WebDAV Basic with the account password). Public keys and app passwords (random, 128 bits
and more) are not guessable: a ban caused by someone else's wrong passwords must not lock
the owner out of them. Per-address bans still block everything from the address.

Trade-off: while an account is banned, its owner cannot use the password either (that is
the point of the ban); an attacker from many addresses can still cause that, but no longer
the loss of key-based (machine) access or of WebDAV app passwords.

A failure from an address the account may not use at all (outside the tenant's or the
user's networks) does not count against the account: such a guess could never log in,
and counting it would let anyone outside lock the account.
"""

from __future__ import annotations

from gateway.policy.decision import Decision, Verdict
from gateway.policy.model import KBDINT, PASSWORD

#: methods an account ban blocks (account-password checks)
BLOCKED_BY_ACCOUNT_BAN = (PASSWORD, KBDINT)
_OUTSIDE_RULES = ("tenant-network", "user-network")


def account_ban_blocks(method: str) -> bool:
    """Whether an account ban stops a login attempt that uses ``method``."""
    return method in BLOCKED_BY_ACCOUNT_BAN


def counts_against_account(pre: Decision) -> bool:
    """Whether a failed guess counts against the account: not when the decision before
    any credential already refuses the address (outside the tenant or user networks)."""
    return not (pre.verdict is Verdict.DENY and pre.rules[-1].name in _OUTSIDE_RULES)
