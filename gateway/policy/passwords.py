"""Local password hashes: argon2id, parameters configurable, upgraded on login."""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id; RFC 9106 low-memory profile defaults

#: a hash of a random string, verified when the user does not exist, so that the time a
#: refusal takes does not tell whether the account exists
_DUMMY = _hasher.hash("lumanox-dummy-password-for-timing")

MIN_LENGTH = 8

#: argon2id takes 64 MiB per check and a core's worth of time: more checks at once than
#: cores only queue in memory (a burst of logins could otherwise take a GiB), so they wait
_ARGON2_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def configure(time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Set the argon2id parameters for new hashes; older hashes are upgraded on login."""
    global _hasher, _DUMMY
    if (time_cost, memory_kib, parallelism) != (
            _hasher.time_cost, _hasher.memory_cost, _hasher.parallelism):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                 parallelism=parallelism)
        # the dummy must cost what a real hash costs, or refusals of unknown users are
        # faster than those of real ones
        _DUMMY = _hasher.hash("lumanox-dummy-password-for-timing")


def hash_password(password: str) -> str:
    with _ARGON2_SLOTS:
        return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-time check (argon2 compares in constant time); False on any problem."""
    if not password:
        return False
    try:
        with _ARGON2_SLOTS:
            return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_strength(password: str) -> None:
    """Raise ValueError naming the rule a new password breaks."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
