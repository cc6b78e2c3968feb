"""TOTP second factor (RFC 6238, SHA-1, 6 digits, 30 s: what authenticator apps expect).

* Enrolment stores a new secret sealed under the tenant key (purging the tenant shreds it);
  it is enforced only after ``confirm`` checked one valid code.
* Replay protection: a code's time step is accepted once, by a conditional
  ``UPDATE ... SET last_step = :step WHERE last_step < :step`` in the catalog, atomic across
  processes and nodes. Codes from one step before or after now are accepted (clock skew).
* Recovery codes: ten single-use codes, stored as keyed hashes, used by the same atomic
  update pattern (``WHERE used_at IS NULL``).
"""

from __future__ import annotations

import hmac
import io
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy import delete, select, update

from gateway.catalog.tables import recovery_codes, totp_secrets
from gateway.core import Core
from gateway.errors import AlreadyExists, ConfigError, NotFound
from gateway.policy.records import user_ids
from gateway.policy.sealing import keyed_hash, seal, unseal

ISSUER = "Lumanox Gateway"
STEP_S = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of now
RECOVERY_COUNT = 10
_PURPOSE = "totp"


@dataclass(frozen=True)
class Enrolment:
    uri: str
    qr: str  # terminal rendering of the URI as a QR code
    secret: str  # base32, for manual entry; shown once


def enroll(core: Core, tenant_name: str, user_name: str) -> Enrolment:
    """Start (or restart) enrolment; refuse while a confirmed secret exists."""
    tid, uid = user_ids(core, tenant_name, user_name)
    secret = pyotp.random_base32()
    version, sealed = seal(core, tid, _PURPOSE, uid, secret.encode())
    with core.catalog.write() as conn:
        row = conn.execute(select(totp_secrets.c.confirmed_at)
                           .where(totp_secrets.c.user_id == uid)).first()
        if row is not None and row.confirmed_at is not None:
            raise AlreadyExists(f"{user_name}@{tenant_name} has TOTP already; "
                                "`totp disable` it first to enrol again")
        conn.execute(delete(totp_secrets).where(totp_secrets.c.user_id == uid))
        conn.execute(totp_secrets.insert().values(
            user_id=uid, tenant_id=tid, secret_enc=sealed, key_version=version,
            confirmed_at=None, last_step=0, created_at=datetime.now(UTC)))
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=f"{user_name}@{tenant_name}", issuer_name=ISSUER)
    buf = io.StringIO()
    segno.make(uri, error="m").terminal(out=buf, compact=True)
    return Enrolment(uri, buf.getvalue(), secret)


def _secret(core: Core, tid: str, uid: str, row) -> str:  # type: ignore[no-untyped-def]
    return unseal(core, tid, _PURPOSE, uid, row.key_version, row.secret_enc).decode()


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code equals ``code`` (constant-time compare), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    current = int(now // STEP_S)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _use_step(core: Core, uid: str, step: int, *, confirming: bool) -> bool:
    """Atomically record ``step`` as used; False if it (or a later one) was used before."""
    values: dict[str, object] = {"last_step": step}
    cond = [totp_secrets.c.user_id == uid, totp_secrets.c.last_step < step]
    if confirming:
        values["confirmed_at"] = datetime.now(UTC)
    else:
        cond.append(totp_secrets.c.confirmed_at.is_not(None))
    with core.catalog.write() as conn:
        return conn.execute(update(totp_secrets).where(*cond).values(**values)).rowcount == 1


def confirm(core: Core, tenant_name: str, user_name: str, code: str) -> list[str]:
    """Check one code of a pending enrolment; enforce TOTP from now on. Returns fresh
    recovery codes (shown once)."""
    tid, uid = user_ids(core, tenant_name, user_name)
    with core.catalog.read() as conn:
        row = conn.execute(select(totp_secrets).where(totp_secrets.c.user_id == uid)).first()
    if row is None:
        raise NotFound(f"no TOTP enrolment for {user_name}@{tenant_name}: run `totp enroll`")
    if row.confirmed_at is not None:
        raise AlreadyExists("TOTP is already confirmed")
    step = _matching_step(_secret(core, tid, uid, row), code, time.time())
    if step is None or not _use_step(core, uid, step, confirming=True):
        raise ConfigError("that code is not valid now; nothing changed (check the device clock)")
    return new_recovery_codes(core, tenant_name, user_name)


def disable(core: Core, tenant_name: str, user_name: str) -> bool:
    _, uid = user_ids(core, tenant_name, user_name)
    with core.catalog.write() as conn:
        n = conn.execute(delete(totp_secrets).where(totp_secrets.c.user_id == uid)).rowcount
        conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == uid))
    return n > 0


def enrolled(conn, user_id: str) -> bool:  # type: ignore[no-untyped-def]
    """Has the user a CONFIRMED TOTP secret (then it is enforced)?"""
    return conn.execute(select(totp_secrets.c.user_id).where(
        totp_secrets.c.user_id == user_id, totp_secrets.c.confirmed_at.is_not(None))
    ).first() is not None


def verify(core: Core, tenant_id: str, user_id: str, code: str, now: float | None = None) -> bool:
    """A valid, never-used code (or an unused recovery code) of a confirmed enrolment."""
    if "-" in code:
        return use_recovery_code(core, user_id, code)
    with core.catalog.read() as conn:
        row = conn.execute(select(totp_secrets).where(
            totp_secrets.c.user_id == user_id, totp_secrets.c.confirmed_at.is_not(None))).first()
    if row is None:
        return False
    step = _matching_step(_secret(core, tenant_id, user_id, row), code,
                          time.time() if now is None else now)
    return step is not None and _use_step(core, user_id, step, confirming=False)


# --- recovery codes -------------------------------------------------------------------------
def _norm_recovery(code: str) -> str:
    return code.strip().lower().replace(" ", "")


def new_recovery_codes(core: Core, tenant_name: str, user_name: str) -> list[str]:
    """Replace the user's recovery codes with ten new ones (returned once)."""
    _, uid = user_ids(core, tenant_name, user_name)
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_COUNT)]
    with core.catalog.write() as conn:
        conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == uid))
        conn.execute(recovery_codes.insert(), [
            {"user_id": uid, "digest": keyed_hash(core, f"recovery/{uid}", c), "used_at": None}
            for c in codes])
    return codes


def use_recovery_code(core: Core, user_id: str, code: str) -> bool:
    digest = keyed_hash(core, f"recovery/{user_id}", _norm_recovery(code))
    with core.catalog.write() as conn:
        return conn.execute(update(recovery_codes).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.digest == digest,
            recovery_codes.c.used_at.is_(None)).values(used_at=datetime.now(UTC))).rowcount == 1


def recovery_codes_left(core: Core, user_id: str) -> int:
    with core.catalog.read() as conn:
        return len(conn.execute(select(recovery_codes.c.id).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))).all())
