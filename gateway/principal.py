"""Who is acting: the principal a front-end obtained from the policy layer.

Permissions are rules on path prefixes; the longest matching prefix decides. A principal
may be narrowed further (an app password limited to a prefix or to reading): narrowing
only ever removes rights.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from gateway.backends.stores import Placement
from gateway.errors import ConfigError, InvalidName
from gateway.names import name_key, normalize_path

PERMISSIONS = ("list", "read", "write", "delete", "rename")
ALL_PERMISSIONS = frozenset(PERMISSIONS)
READ_ONLY = frozenset({"list", "read"})


@dataclass(frozen=True)
class PermissionRule:
    prefix: str
    perms: frozenset[str]


def parse_rules(data: str | list[dict[str, Any]]) -> tuple[PermissionRule, ...]:
    """Rules from their JSON form ``[{"prefix": "/", "perms": ["read", ...]}]``."""
    items = json.loads(data) if isinstance(data, str) else data
    rules = []
    for item in items:
        perms = frozenset(item["perms"])
        unknown = perms - ALL_PERMISSIONS
        if unknown:
            raise ConfigError(
                f"unknown permission(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(PERMISSIONS)}"
            )
        rules.append(PermissionRule(_norm_prefix(item["prefix"]), perms))
    return tuple(rules)


def rules_to_json(rules: tuple[PermissionRule, ...]) -> str:
    return json.dumps([{"prefix": r.prefix, "perms": sorted(r.perms)} for r in rules])


def _norm_prefix(prefix: str) -> str:
    """A rule prefix in the canonical path form (validated, NFC), as it is stored."""
    try:
        return normalize_path(prefix)
    except InvalidName as exc:
        raise ConfigError(f"permission prefix {prefix!r}: {exc}") from None


def fold_path(path: str, case_insensitive: bool) -> str:
    """The compared form of a path: every component through ``names.name_key`` (NFC,
    and case-folded then NFC again on case-insensitive tenants), exactly as the catalog
    compares names, so every spelling that opens a file also meets its rules."""
    return "/" + "/".join(name_key(unicodedata.normalize("NFC", p), case_insensitive)
                          for p in path.split("/") if p)


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


DEFAULT_RULES = (PermissionRule("/", ALL_PERMISSIONS),)


@dataclass(frozen=True)
class Principal:
    """An authenticated user of one tenant."""

    tenant_id: str
    tenant_name: str
    user_id: str
    user_name: str
    kind: str = "human"  # human | machine
    case_insensitive: bool = True
    rules: tuple[PermissionRule, ...] = DEFAULT_RULES
    #: narrowing from the credential used (e.g. an app password's scope)
    scope_prefix: str = "/"
    scope_perms: frozenset[str] = field(default=ALL_PERMISSIONS)
    auth_method: str = ""
    #: where the tenant's new blobs go and which regions it allows (read at login)
    placement: Placement = field(default=Placement())

    @property
    def display(self) -> str:
        return f"{self.user_name}@{self.tenant_name}"

    def _fold(self, path: str) -> str:
        """Paths compare as the tenant compares names (``fold_path``): ``/Secret`` is
        ``/secret`` on a case-insensitive tenant, and every Unicode spelling of a name is
        one, so a rule cannot be side-stepped by typing another case or composition."""
        return fold_path(path, self.case_insensitive)

    def folded_rules(self) -> tuple[tuple[str, PermissionRule], ...]:
        """The rules with their folded prefixes (computed once per principal)."""
        cached = self.__dict__.get("_folded")
        if cached is None:
            cached = tuple((self._fold(r.prefix), r) for r in self.rules)
            object.__setattr__(self, "_folded", cached)
        return cached

    def folded_scope(self) -> str:
        cached = self.__dict__.get("_folded_scope")
        if cached is None:
            cached = self._fold(self.scope_prefix)
            object.__setattr__(self, "_folded_scope", cached)
        return cached

    def allowed(self, perm: str, path: str) -> bool:
        """Does this principal hold ``perm`` on ``path``?"""
        return self.allowed_folded(perm, self._fold(path))

    def allowed_folded(self, perm: str, path: str) -> bool:
        """``allowed`` for a path already in ``fold_path`` form."""
        if perm not in self.scope_perms or not _under(path, self.folded_scope()):
            return False
        best: tuple[str, PermissionRule] | None = None
        for prefix, rule in self.folded_rules():
            if _under(path, prefix) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, rule)
        return best is not None and perm in best[1].perms

    def may_traverse(self, path: str) -> bool:
        """May list ``path`` to reach something below it: an ancestor of the scope, a
        folder with list permission, or an ancestor of a rule that grants list."""
        folded = self._fold(path)
        if _under(self.folded_scope(), folded) or self.allowed_folded("list", folded):
            return True
        return any("list" in rule.perms and prefix != folded and _under(prefix, folded)
                   and self.allowed_folded("list", prefix)
                   for prefix, rule in self.folded_rules())
