"""Who a data-subject request is about, and what the catalog holds about them.

A request names a tenant and one or more of: an account (``user``), a glob over file and
folder names (``name_pattern``), a text that occurs in names (``text_in_names``). Names are
compared case-insensitively (a person's name is written in every case). ``resolve`` turns
that into a ``Scope``: the account, the files (owned by the account, uploaded by it
according to the audit trail, or named after the person, or inside a folder named after
the person) and the folders that go whole: those named after the person, and those the
account created (``mkdir`` events) that hold nothing else, so an erasure leaves no empty
folder of the person's naming. Events are streamed by ``events.iter_events``.

The namespace is read in one read transaction: the tenant's folders are held in memory
(id -> parent, name) to build paths; files are streamed, so memory grows with the
number of folders and of matches, not with the number of files.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from gateway.catalog.namespace import DIR
from gateway.catalog.tables import audit_events, nodes, tenants, trash_items, users
from gateway.errors import NotFound
from gateway.names import name_key
from gateway.policy.logins import canonical_name

if TYPE_CHECKING:
    from gateway.core import Core

#: the audit actions of a stored upload and of a created folder (every protocol, the CLI)
UPLOAD_ACTION = "write"
MKDIR_ACTION = "mkdir"


class RequestInvalid(ValueError):
    """A subject request that names nobody (one line: what to add)."""


@dataclass(frozen=True)
class Criteria:
    """What identifies the data subject within one tenant."""

    tenant: str
    user: str | None = None
    name_pattern: str | None = None
    text_in_names: str | None = None

    def normalised(self) -> Criteria:
        """Canonical tenant and account names; refuses a request that names nobody."""
        tenant = canonical_name(self.tenant)
        if tenant is None:
            raise RequestInvalid(f"tenant {self.tenant!r}: give the tenant's name "
                                 "(see `lumanox-gateway tenant list`)")
        user = None
        if self.user is not None:
            user = canonical_name(self.user)
            if user is None:
                raise RequestInvalid(f"user {self.user!r}: give the account name without "
                                     "@TENANT, spaces or control characters")
        if user is None and not self.name_pattern and not self.text_in_names:
            raise RequestInvalid("name the data subject: add --user U, --name-pattern GLOB "
                                 "or --text-in-names TEXT")
        return Criteria(tenant, user, self.name_pattern or None, self.text_in_names or None)

    def describe(self) -> dict[str, str]:
        return {k: v for k, v in (("tenant", self.tenant), ("user", self.user),
                                  ("name_pattern", self.name_pattern),
                                  ("text_in_names", self.text_in_names)) if v}


@dataclass
class FileItem:
    """One file within the request's scope, and why it is."""

    path: str
    node_id: int
    size: int
    owner: str | None
    blob_id: str | None
    mtime: datetime
    why: list[str] = field(default_factory=list)
    in_trash: bool = False  # deleted into the tenant's trash; ``path`` is where it was

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "owner": self.owner,
                "modified": self.mtime, "why": self.why, "in_trash": self.in_trash}


@dataclass
class Scope:
    """A resolved request: the tenant, the account (if any), files and folders."""

    criteria: Criteria
    tenant_id: str
    case_insensitive: bool
    user_id: str | None
    files: list[FileItem]
    folders: list[str]  # folders whose own name matches: erased with everything inside
    folder_ids: list[int]
    _paths: set[str] = field(default_factory=set, repr=False)
    _folder_keys: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._paths = {self.fold(f.path) for f in self.files}
        self._folder_keys = {self.fold(p) for p in self.folders}

    def fold(self, path: str) -> str:
        return "/".join(name_key(p, self.case_insensitive) for p in path.split("/"))

    def names_match(self, name: str) -> bool:
        """Does one file or folder name identify the person (pattern or text)?"""
        return name_matches(self.criteria, name)

    def about_path(self, path: str | None) -> bool:
        """Does an audit event's path name a file or folder of this request?"""
        if not path:
            return False
        key = self.fold(path)
        if key in self._paths:
            return True
        parts = key.split("/")
        if any("/".join(parts[:i]) in self._folder_keys for i in range(2, len(parts) + 1)):
            return True
        return any(self.names_match(p) for p in path.split("/") if p)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def name_matches(criteria: Criteria, name: str) -> bool:
    folded = name.casefold()
    if criteria.name_pattern and fnmatch.fnmatchcase(folded, criteria.name_pattern.casefold()):
        return True
    return bool(criteria.text_in_names) and criteria.text_in_names.casefold() in folded


def tenant_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(tenants.c.id, tenants.c.case_insensitive)
                       .where(tenants.c.name == name)).first()
    if row is None:
        raise NotFound(f"no tenant {name!r}: see `lumanox-gateway tenant list`")
    return row


def resolve(core: Core, criteria: Criteria) -> Scope:
    """The account, files and folders a request is about (one read transaction)."""
    c = criteria.normalised()
    with core.catalog.read() as conn:
        t = tenant_row(conn, c.tenant)
        uid = None
        if c.user is not None:
            uid = conn.execute(select(users.c.id).where(
                users.c.tenant_id == t.id, users.c.name == c.user)).scalar()
        owners = dict(conn.execute(select(users.c.id, users.c.name)
                                   .where(users.c.tenant_id == t.id)).all())
        ci = bool(t.case_insensitive)
        acts = _Acts(_event_paths(conn, t.id, c.user, ci, UPLOAD_ACTION),
                     _event_paths(conn, t.id, c.user, ci, MKDIR_ACTION))
        files, folders, folder_ids = _walk(conn, t.id, c, uid, acts, ci, owners)
    if c.user is not None and uid is None and not files and not _has_events(core, t.id, c.user):
        raise NotFound(f"no user {c.user}@{c.tenant} and no trace of one: check the name "
                       f"(`lumanox-gateway user list {c.tenant}`)")
    return Scope(c, t.id, bool(t.case_insensitive), uid, files, folders, folder_ids)


def _has_events(core: Core, tenant_id: str, user: str) -> bool:
    with core.catalog.read() as conn:
        return conn.execute(select(audit_events.c.id).where(
            audit_events.c.chain == tenant_id, audit_events.c.user == user).limit(1)
        ).first() is not None


@dataclass(frozen=True)
class _Acts:
    """Folded paths the account stored files at, and created folders at."""

    uploaded: set[str]
    created: set[str]


def _event_paths(conn: Connection, tenant_id: str, user: str | None, ci: bool,
                 action: str) -> set[str]:
    """Folded paths of the account's successful ``action`` events."""
    if user is None:
        return set()
    q = select(audit_events.c.path).where(
        audit_events.c.chain == tenant_id, audit_events.c.user == user,
        audit_events.c.action == action, audit_events.c.result == "ok",
        audit_events.c.path.is_not(None)).distinct()
    return {"/".join(name_key(p, ci) for p in path.split("/"))
            for path in conn.execute(q).scalars()}


def _walk(conn: Connection, tenant_id: str, c: Criteria, uid: str | None,
          acts: _Acts, ci: bool, owners: dict[str, str]
          ) -> tuple[list[FileItem], list[str], list[int]]:
    """Files in scope, and the folders that go whole: named after the person, or created
    by the account and holding nothing else (no file out of scope, no folder of another)."""
    dirs = {r.id: (r.parent_id, r.name) for r in conn.execute(
        select(nodes.c.id, nodes.c.parent_id, nodes.c.name)
        .where(nodes.c.tenant_id == tenant_id, nodes.c.kind == DIR))}
    # files and folders in the trash left the tree (no parent): they are the person's
    # data still, found at the path they were deleted from
    trashed = dict(conn.execute(select(trash_items.c.node_id, trash_items.c.path)
                                .where(trash_items.c.tenant_id == tenant_id)).all())
    paths: dict[int, str] = {}
    marked: dict[int, bool] = {}  # folder id -> inside (or is) a folder whose name matches
    named = bool(c.name_pattern or c.text_in_names)

    def path_of(node_id: int) -> str:
        if node_id not in paths:
            parent, name = dirs[node_id]
            paths[node_id] = (trashed.get(node_id, "") if parent is None
                              else f"{path_of(parent)}/{name}")
        return paths[node_id]

    def in_trash(node_id: int | None) -> bool:
        while node_id is not None:
            if node_id in trashed:
                return True
            node_id = dirs[node_id][0]
        return False

    def inside_match(node_id: int) -> bool:
        if node_id not in marked:
            parent, name = dirs[node_id]
            marked[node_id] = parent is not None and (
                (named and name_matches(c, name)) or inside_match(parent))
        return marked[node_id]

    folders, folder_ids = [], []
    for node_id, (parent, name) in dirs.items():
        if parent is not None and named and name_matches(c, name) and \
                not inside_match(parent):
            folders.append(path_of(node_id))
            folder_ids.append(node_id)
    kept: set[int] = set()  # folders holding something out of scope: they stay

    def keep(node_id: int | None) -> None:
        while node_id is not None and node_id not in kept:
            kept.add(node_id)
            node_id = dirs[node_id][0]

    def fold(path: str) -> str:
        return "/".join(name_key(p, ci) for p in path.split("/"))

    own = {d for d in dirs if dirs[d][0] is not None and fold(path_of(d)) in acts.created} \
        if acts.created else set()
    for d in dirs:
        if d not in own and not inside_match(d):
            keep(d)
    files: list[FileItem] = []
    q = select(nodes.c.id, nodes.c.parent_id, nodes.c.name, nodes.c.size, nodes.c.blob_id,
               nodes.c.owner_id, nodes.c.mtime).where(
        nodes.c.tenant_id == tenant_id, nodes.c.kind != DIR)
    for r in conn.execute(q.execution_options(yield_per=1000)):
        path = trashed[r.id] if r.parent_id is None else f"{path_of(r.parent_id)}/{r.name}"
        why = []
        if uid is not None and r.owner_id == uid:
            why.append("owner")
        if acts.uploaded and fold(path) in acts.uploaded:
            why.append("uploaded")
        if named and name_matches(c, r.name):
            why.append("name")
        if r.parent_id is not None and inside_match(r.parent_id):
            why.append("in-matching-folder")
        if why:
            files.append(FileItem(path, r.id, r.size, owners.get(r.owner_id), r.blob_id,
                                  r.mtime, why, r.parent_id is None or in_trash(r.parent_id)))
        elif r.parent_id is not None:
            keep(r.parent_id)
    gone = own - kept  # the account's own folders, empty once its files are gone
    for d in gone:
        if dirs[d][0] not in gone and not inside_match(d):
            folders.append(path_of(d))
            folder_ids.append(d)
    files.sort(key=lambda f: f.path)
    order = sorted(range(len(folders)), key=lambda i: folders[i])
    return files, [folders[i] for i in order], [folder_ids[i] for i in order]

