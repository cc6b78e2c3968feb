"""Authorisation decisions of the core beyond one rule lookup.

* **Hidden paths**: a path the principal may neither list nor read (nor pass through to
  reach something it may) is refused exactly as a missing path is answered
  (``HiddenPath``, a ``NotFound``): the answer never tells whether it exists. Where the
  principal can see the object but lacks the operation's permission the refusal stays
  ``PermissionDenied`` (403): it reveals nothing the principal could not list anyway.
* **Subtrees**: an operation on a folder (copy, move, delete, lock) needs its permission
  on every node of the subtree. Permissions are longest-prefix rules, so this is decided
  from the rules, not the nodes: the subtree is fully allowed iff the folder is allowed
  and no rule whose prefix lies strictly inside the folder refuses the permission on a
  node that exists (one lookup per such rule: O(rules), not O(nodes)).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from gateway.catalog import namespace as ns
from gateway.catalog.namespace import Node
from gateway.errors import GatewayError, HiddenPath, PermissionDenied
from gateway.principal import Principal, fold_path


def visible(principal: Principal, path: str) -> bool:
    """May the principal know that ``path`` exists (list or read it, or pass through it)?"""
    folded = fold_path(path, principal.case_insensitive)
    return (principal.allowed_folded("list", folded) or principal.allowed_folded("read", folded)
            or principal.may_traverse(path))


def refusal(principal: Principal, perm: str, path: str) -> GatewayError | None:
    """None if ``perm`` on ``path`` is allowed; else the error to raise (see module doc)."""
    if principal.allowed(perm, path):
        return None
    if visible(principal, path):
        return PermissionDenied(f"no {perm} permission on {path}")
    return HiddenPath(f"no {perm} permission on {path}; answered as missing")


def require(principal: Principal, perm: str, path: str) -> None:
    err = refusal(principal, perm, path)
    if err is not None:
        raise err


def hidden(principal: Principal, perm: str, path: str) -> HiddenPath | None:
    """The refusal of ``perm`` on ``path`` if it is a hidden one (else None): what a
    front-end must learn before it resolves the path, so nothing it does next (a 405 for
    an existing folder, a 412 for an existing target...) can tell hidden from missing."""
    err = refusal(principal, perm, path)
    return err if isinstance(err, HiddenPath) else None


def _inner_denials(principal: Principal, perm: str, path: str) -> list[list[str]]:
    """Components, relative to ``path``, of the rule prefixes strictly inside ``path``
    where ``perm`` is refused."""
    folded = fold_path(path, principal.case_insensitive)
    depth = 0 if folded == "/" else folded.count("/")
    out = []
    for prefix, rule in principal.folded_rules():
        inside = prefix != folded and (folded == "/" or prefix.startswith(folded + "/"))
        if inside and not principal.allowed_folded(perm, prefix):
            out.append([p for p in rule.prefix.split("/") if p][depth:])
    return out


def subtree_refusal(conn: Connection, principal: Principal, perm: str, path: str,
                    top: Node) -> GatewayError | None:
    """None if ``perm`` holds on every node of the subtree that is (or, for the target of
    a copy or move, will be) at ``path`` with the content of node ``top``."""
    err = refusal(principal, perm, path)
    if err is not None or not top.is_dir:
        return err
    for rel in _inner_denials(principal, perm, path):
        if _exists_below(conn, principal, top, rel):
            return PermissionDenied(f"no {perm} permission on part of {path}; "
                                    "the operation was refused as a whole")
    return None


def require_subtree(conn: Connection, principal: Principal, perm: str, path: str,
                    top: Node) -> None:
    err = subtree_refusal(conn, principal, perm, path, top)
    if err is not None:
        raise err


def _exists_below(conn: Connection, principal: Principal, top: Node, rel: list[str]) -> bool:
    node: Node | None = top
    for name in rel:
        if node is None or not node.is_dir:
            return False
        node = ns.child(conn, top.tenant_id, node.id, name, principal.case_insensitive)
    return node is not None


def child_filter(principal: Principal, folder: str) -> Callable[[str], bool] | None:
    """For a folder the principal may list: a test hiding the children it may not see,
    or None when no rule inside the folder can hide any (the usual case: no cost).

    A child is governed by the folder's rule (which grants list) unless a rule names the
    child itself or lies below it, so only children named by such a rule are checked."""
    folded = fold_path(folder, principal.case_insensitive)
    depth = 0 if folded == "/" else folded.count("/")
    heads = {prefix.split("/")[depth + 1] for prefix, _ in principal.folded_rules()
             if prefix != folded and (folded == "/" or prefix.startswith(folded + "/"))}
    if not heads:
        return None

    def show(child: str) -> bool:
        name = fold_path(child.rsplit("/", 1)[-1], principal.case_insensitive)[1:]
        return name not in heads or visible(principal, child)

    return show
