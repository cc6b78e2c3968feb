"""Local password hashes: argon2id, parameters configurable, upgraded on login."""

from __future__ import annotations

import base64
import os
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id; RFC 9106 low-memory profile defaults


def _dummy_hash() -> str:
    """A well-formed hash with the current parameters, verified when the user does not exist,
    so that the time a refusal takes does not tell whether the account exists.

    Built from random salt and digest rather than by hashing (which took 0.2 s of every
    process's start-up); verifying against it costs exactly one argon2 run, like a real one.
    """
    h = _hasher
    salt = base64.b64encode(secrets.token_bytes(h.salt_len)).decode().rstrip("=")
    digest = base64.b64encode(secrets.token_bytes(h.hash_len)).decode().rstrip("=")
    return (f"$argon2id$v=19$m={h.memory_cost},t={h.time_cost},p={h.parallelism}"
            f"${salt}${digest}")


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
            ok = _hasher.verify(stored_hash or _dummy_hash(), password)
            return ok and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_strength(password: str) -> None:
    """Raise ValueError naming the rule a new password breaks."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
