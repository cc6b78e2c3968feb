"""The one canonical form of a login (``USER@TENANT``) and of an account name.

Every door uses it: WebDAV Basic auth and SSH logins (through the gate), ``admin``
(create_user, lookups) and LDAP provisioning. Spellings of one name map to one account:

* NFKC, then case-folded (and NFKC again): ``BOB``, ``Bob`` and the full-width form are
  ``bob`` — the same folding a directory's case-ignore matching does, so a directory that
  finds ``bob`` for ``BOB`` can never make ``BOB`` a second account;
* whitespace and control characters anywhere are REFUSED, not stripped (``" bob"`` and
  ``"bob "`` would otherwise be matched to bob by LDAP, yet look new to the catalog).

``canonical_login`` returns None for a login that is not canonicalisable; the gate then
refuses it exactly like a wrong password for an unknown user (same work, same answer).
``split_login`` is the admins' form (CLI, ``admin``, ``policy explain``): the same names,
or a ``ConfigError`` that says how to write them.
"""

from __future__ import annotations

import unicodedata

from gateway.errors import ConfigError

MAX_USER_CHARS = 128
MAX_TENANT_CHARS = 63


def _bad_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch.isspace() or cat.startswith("C") or cat in ("Zl", "Zp", "Zs")


def canonical_name(name: str, max_chars: int = MAX_USER_CHARS) -> str | None:
    """The canonical form of one account (or tenant) name, or None if it has whitespace,
    control or unassigned characters, an ``@``, or is empty or too long."""
    if not isinstance(name, str) or not name or len(name) > 4 * max_chars:
        return None
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    if not folded or len(folded) > max_chars or "@" in folded or "/" in folded:
        return None
    if any(_bad_char(ch) for ch in folded):
        return None
    return folded


def canonical_login(login: str) -> tuple[str, str] | None:
    """``USER@TENANT`` -> (canonical user, canonical tenant), or None (refuse as unknown)."""
    if not isinstance(login, str):
        return None
    user, sep, tenant = login.rpartition("@")
    if not sep:
        return None
    u, t = canonical_name(user), canonical_name(tenant, MAX_TENANT_CHARS)
    return (u, t) if u and t else None


def split_login(login: str) -> tuple[str, str]:
    """``user@tenant`` -> (user, tenant), both canonical; ``ConfigError`` if it has none."""
    names = canonical_login(login)
    if names is None:
        raise ConfigError(f"{login!r}: write users as USER@TENANT, without spaces or "
                          "control characters")
    return names
