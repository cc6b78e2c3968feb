"""Who is acting: the principal a front-end obtained from the policy layer.

Permissions are rules on path prefixes; the longest matching prefix decides. A principal
may be narrowed further (an app password limited to a prefix or to reading): narrowing
only ever removes rights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ConfigError

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
    parts = [p for p in prefix.split("/") if p]
    return "/" + "/".join(parts)


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

    @property
    def display(self) -> str:
        return f"{self.user_name}@{self.tenant_name}"

    def _fold(self, path: str) -> str:
        """Paths compare as the tenant compares names: ``/Secret`` is ``/secret`` when the
        tenant is case-insensitive, so a rule cannot be side-stepped by typing another case."""
        return path.casefold() if self.case_insensitive else path

    def allowed(self, perm: str, path: str) -> bool:
        """Does this principal hold ``perm`` on ``path`` (a normalised path)?"""
        path = self._fold(path)
        if perm not in self.scope_perms or not _under(path, self._fold(self.scope_prefix)):
            return False
        best: PermissionRule | None = None
        for rule in self.rules:
            prefix = self._fold(rule.prefix)
            if _under(path, prefix) and (best is None or len(rule.prefix) > len(best.prefix)):
                best = rule
        return best is not None and perm in best.perms

    def may_traverse(self, path: str) -> bool:
        """May list ``path`` as an ancestor of the scope (to reach the scope at all)."""
        return _under(self._fold(self.scope_prefix), self._fold(path)) or \
            self.allowed("list", path)
