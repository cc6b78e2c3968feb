"""Retention rules: per tenant ("/") and per folder, delete files N days after their upload
or their last change; per tenant, keep the personal fields of audit events M days.

The deepest folder rule that has a file limit applies to a file (a folder rule overrides
the tenant's). ``after``: ``upload`` counts from when the gateway received the file's
current content (a copy keeps its source's); ``change`` from the latest of that, the last
modification time and the last rename or move. Times a client sets (mtime) can only make
a file due later, never earlier than its upload allows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, select

from gateway.catalog.tables import retention_rules
from gateway.compliance.retention.common import event, place, tenant_of
from gateway.errors import NotFound

if TYPE_CHECKING:
    from gateway.core import Core

AFTER = ("upload", "change")


@dataclass(frozen=True)
class Rule:
    path: str
    path_key: str
    files_days: int | None
    after: str
    audit_days: int | None

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("path_key")
        return d


def rules_of(conn: Connection, tenant_id: str) -> dict[str, Rule]:
    """The tenant's rules by path key."""
    rows = conn.execute(select(
        retention_rules.c.path, retention_rules.c.path_key, retention_rules.c.files_days,
        retention_rules.c.after, retention_rules.c.audit_days)
        .where(retention_rules.c.tenant_id == tenant_id))
    return {r.path_key: Rule(*r) for r in rows}


def file_rule(rules: dict[str, Rule], dir_key: str) -> Rule | None:
    """The rule with a file limit of the deepest folder at or above ``dir_key``."""
    key = dir_key
    while True:
        rule = rules.get(key)
        if rule is not None and rule.files_days is not None:
            return rule
        if key == "/":
            return None
        key = key.rsplit("/", 1)[0] or "/"


def set_rule(core: Core, tenant: str, path: str | None = None, *,
             files_days: int | None = None, after: str = "upload",
             audit_days: int | None = None) -> Rule:
    """Create or replace the rule of a folder ("/": the tenant); audited."""
    t = tenant_of(core, tenant)
    where = place(path, t.case_insensitive)
    if files_days is None and audit_days is None:
        raise ValueError("a rule needs --files-days N and/or --audit-days M")
    if (files_days is not None and files_days < 0) or (audit_days is not None and audit_days < 0):
        raise ValueError("days must be 0 or more")
    if after not in AFTER:
        raise ValueError(f"--after must be one of {', '.join(AFTER)}")
    if audit_days is not None and where.key != "/":
        raise ValueError("--audit-days applies to the whole tenant: drop --path (the audit "
                         "trail is one chain per tenant)")
    rule = Rule(where.path, where.key, files_days, after, audit_days)
    with core.catalog.write() as conn:
        conn.execute(delete(retention_rules).where(retention_rules.c.tenant_id == t.id,
                                                   retention_rules.c.path_key == where.key))
        conn.execute(retention_rules.insert().values(
            tenant_id=t.id, updated_at=datetime.now(UTC), **asdict(rule)))
        core.audit.append(conn, [event(t, "retention-set", path=where.path, reason=(
            f"files_days={files_days} after={after} audit_days={audit_days}"))])
    return rule


def show_rules(core: Core, tenant: str) -> list[Rule]:
    t = tenant_of(core, tenant)
    with core.catalog.read() as conn:
        return sorted(rules_of(conn, t.id).values(), key=lambda r: r.path_key)


def clear_rule(core: Core, tenant: str, path: str | None = None) -> None:
    """Remove the rule of a folder ("/": the tenant's own); audited."""
    t = tenant_of(core, tenant)
    where = place(path, t.case_insensitive)
    with core.catalog.write() as conn:
        gone = conn.execute(delete(retention_rules).where(
            retention_rules.c.tenant_id == t.id, retention_rules.c.path_key == where.key)
        ).rowcount
        if not gone:
            raise NotFound(f"no retention rule on {where.path} of {t.name}: see "
                           f"`lumanox-gateway retention show --tenant {t.name}`")
        core.audit.append(conn, [event(t, "retention-clear", path=where.path)])
