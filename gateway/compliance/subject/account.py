"""The account data of a data subject: read it (Art. 15/20) and remove it (Art. 17).

What is stored about an account: the ``users`` row (no password hash is ever handed out:
only whether there is one), its SSH keys (public: fingerprints, comments, networks), app
passwords (labels and scope, never the digests), whether a second factor is enrolled, and
the login-failure counters that name it. Removing the account deletes all of these; the
foreign keys remove keys, app passwords, TOTP secrets and recovery codes with the row, and
the deletes below do it explicitly as well so nothing depends on them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from gateway.catalog.tables import (
    app_passwords,
    auth_failures,
    auth_sessions,
    nodes,
    recovery_codes,
    ssh_keys,
    totp_secrets,
    users,
)

_USER_FIELDS = ("name", "kind", "permissions", "quota_bytes", "quota_files", "used_bytes",
                "used_files", "settings", "disabled", "expires_at", "created_at",
                "directory_id")
_KEY_FIELDS = ("fingerprint", "key_type", "comment", "networks", "expires_at", "created_at",
               "last_used_at")
_APP_FIELDS = ("label", "read_only", "prefix", "networks", "expires_at", "created_at",
               "last_used_at", "revoked_at")


def _json_field(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def failure_key(tenant: str, user: str) -> str:
    """The defender's counter key of an account (``gateway.policy.defender``)."""
    return f"acct:{tenant}/{user}".lower()[:200]


def account_data(conn: Connection, tenant: str, user_id: str | None) -> dict[str, Any] | None:
    """Everything stored about one account, as JSON-ready data (None: no account)."""
    if user_id is None:
        return None
    row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    if row is None:
        return None
    out: dict[str, Any] = {"tenant": tenant, **{f: _json_field(row[f]) for f in _USER_FIELDS},
                           "has_password": row["password_hash"] is not None}
    out["ssh_keys"] = [{f: _json_field(r[f]) for f in _KEY_FIELDS} for r in conn.execute(
        select(ssh_keys).where(ssh_keys.c.user_id == user_id)).mappings()]
    out["app_passwords"] = [{f: _json_field(r[f]) for f in _APP_FIELDS} for r in conn.execute(
        select(app_passwords).where(app_passwords.c.user_id == user_id)).mappings()]
    totp = conn.execute(select(totp_secrets.c.confirmed_at, totp_secrets.c.created_at)
                        .where(totp_secrets.c.user_id == user_id)).first()
    out["second_factor"] = None if totp is None else {
        "kind": "totp", "enrolled_at": totp.created_at, "confirmed_at": totp.confirmed_at}
    out["recovery_codes_left"] = conn.execute(select(func.count()).where(
        recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))).scalar()
    return out


def remove_account(conn: Connection, tenant: str, tenant_id: str, user: str,
                   user_id: str | None) -> dict[str, int]:
    """Delete the account and every row about it (in the caller's write transaction);
    returns counts per category."""
    counts = {"accounts": 0, "ssh_keys": 0, "app_passwords": 0, "second_factors": 0,
              "login_failure_counters": 0}
    acct_key = failure_key(tenant, user)
    counts["login_failure_counters"] = conn.execute(delete(auth_failures).where(
        auth_failures.c.key == acct_key)).rowcount or 0
    if user_id is None:
        return counts
    counts["ssh_keys"] = conn.execute(delete(ssh_keys).where(
        ssh_keys.c.user_id == user_id)).rowcount or 0
    counts["app_passwords"] = conn.execute(delete(app_passwords).where(
        app_passwords.c.user_id == user_id)).rowcount or 0
    conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    counts["second_factors"] = conn.execute(delete(totp_secrets).where(
        totp_secrets.c.user_id == user_id)).rowcount or 0
    conn.execute(delete(auth_sessions).where(auth_sessions.c.user_id == user_id))
    conn.execute(update(nodes).where(nodes.c.tenant_id == tenant_id,
                                     nodes.c.owner_id == user_id).values(owner_id=None))
    counts["accounts"] = conn.execute(delete(users).where(users.c.id == user_id)).rowcount or 0
    return counts


def count_account(conn: Connection, tenant: str, user: str,
                  user_id: str | None) -> dict[str, int]:
    """What ``remove_account`` would delete (for a dry run)."""
    def n(q: Any) -> int:
        return int(conn.execute(select(func.count()).where(q)).scalar() or 0)

    counts = {"accounts": 0, "ssh_keys": 0, "app_passwords": 0, "second_factors": 0,
              "login_failure_counters": n(auth_failures.c.key == failure_key(tenant, user))}
    if user_id is None:
        return counts
    counts.update(accounts=n(users.c.id == user_id), ssh_keys=n(ssh_keys.c.user_id == user_id),
                  app_passwords=n(app_passwords.c.user_id == user_id),
                  second_factors=n(totp_secrets.c.user_id == user_id))
    return counts
