"""The wsgidav provider: resources backed by ``Session`` calls, nothing else.

Each request carries the authenticated ``Session`` in ``environ`` (set by the domain
controller). Resolving a URL uses ``stat_quiet`` (no audit; for the request URL, prepared
for the call the method makes next: one look-up per request); the operation the request
performs (read, write, list, mkdir, delete, move, copy, proppatch, or a stat for PROPFIND
Depth 0 / HEAD) is the one audited, permission-checked core call. Every change presents
the lock tokens of the request's ``If`` header; the core decides whether a lock is in the
way, inside the change's own transaction.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlparse

from wsgidav import util, xml_tools
from wsgidav.dav_error import DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from gateway.errors import GatewayError, HiddenPath, InvalidName, NotADirectory, NotFound
from gateway.names import normalize_path
from gateway.session import Entry, FileReader, Session
from gateway.webdav.context import SESSION_KEY
from gateway.webdav.errors import mapped, to_dav
from gateway.webdav.streams import READ_AHEAD_MIN, Prefetch, Upload, expected_length

MS_NS = "{urn:schemas-microsoft-com:}"
QUOTA_PROPS = ("{DAV:}quota-used-bytes", "{DAV:}quota-available-bytes")
_USAGE_KEY = "lumanox.usage"
LOCK_NULL_KEY = "lumanox.lock_null"
_RES_CACHE_KEY = "lumanox.resources"
#: methods that change nothing: a URL resolves to the same resource all request long
_READ_ONLY_METHODS = ("GET", "HEAD", "PROPFIND")
#: method -> (audited action, permission it needs on the request URL)
_NEEDS = {"GET": ("read", "read"), "HEAD": ("stat", "read"), "PROPFIND": ("stat", "list"),
          "PUT": ("write", "write"), "MKCOL": ("mkdir", "write"),
          "DELETE": ("delete", "delete"), "PROPPATCH": ("proppatch", "write"),
          "LOCK": ("lock", "write"), "UNLOCK": ("unlock", "write"),
          "COPY": ("copy", "read"), "MOVE": ("move", "rename")}
#: what each method does next with the request URL: its look-up prepares for it
_PREPARE = {"GET": "read", "PUT": "write", "HEAD": "stat", "PROPFIND": "stat"}
#: methods for which a missing request URL is a probe that misses (audited as such)
_MISS_METHODS = ("GET", "HEAD", "PROPFIND", "DELETE", "PROPPATCH", "COPY", "MOVE", "UNLOCK")


def _join(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


def _norm(path: str) -> str:
    return "/" + path.strip("/")


def lock_tokens(environ: dict[str, Any]) -> list[str]:
    """The lock tokens the client presented (``If`` header) with this request."""
    if "wsgidav.conditions.if" not in environ:
        util.parse_if_header_dict(environ)
    return environ["wsgidav.ifLockTokenList"]


class _ChildProps:
    """Dead properties of a folder's children, fetched once (one query) when first needed."""

    def __init__(self, session: Session, folder: str) -> None:
        self.session, self.folder = session, folder
        self._by_name: dict[str, dict[str, str]] | None = None

    def of(self, name: str) -> dict[str, str]:
        if self._by_name is None:
            with mapped():
                self._by_name = self.session.child_props(self.folder)
        return self._by_name.get(name, {})


class _Mixin:
    """What files and folders share: identity, live and dead properties, copy/move."""

    path: str
    environ: dict[str, Any]
    is_collection: bool
    provider: LumanoxProvider

    def _init(self, session: Session, entry: Entry | None, parent_props: _ChildProps | None,
              ) -> None:
        self.session = session
        self.entry = entry
        self._parent_props = parent_props
        self._props: dict[str, str] | None = None

    @property
    def spath(self) -> str:
        return _norm(self.path)

    # --- identity ----------------------------------------------------------------------
    def get_ref_url(self) -> str:
        """Lock/property key: case-folded for case-insensitive tenants (``/A`` == ``/a``)."""
        key = self.session.lock_root(self.spath)
        if self.is_collection and key != "/":
            key += "/"
        return key

    def get_display_name(self) -> str:
        return self.entry.name if self.entry else self.spath.rsplit("/", 1)[-1]

    def get_creation_date(self) -> float | None:
        return float(int(self.entry.ctime.timestamp())) if self.entry else None

    def get_last_modified(self) -> float | None:
        # whole seconds: HTTP dates have no fraction, If-Modified-Since must compare equal
        return float(int(self.entry.mtime.timestamp())) if self.entry else None

    # --- properties --------------------------------------------------------------------
    def _dead(self) -> dict[str, str]:
        if self._props is None:
            if self.entry is None:
                self._props = {}
            elif self._parent_props is not None:
                self._props = self._parent_props.of(self.entry.name)
            else:
                with mapped():
                    self._props = self.session.get_props(self.spath)
        return self._props

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        names = super().get_property_names(is_allprop=is_allprop)  # type: ignore[misc]
        if self.is_collection and not is_allprop:  # RFC 4331: not part of allprop
            names.extend(QUOTA_PROPS)
        names.extend(n for n in self._dead() if n not in names)
        return names

    def get_used_bytes(self) -> int | None:
        return None  # quota properties are answered by get_property_value only

    def get_available_bytes(self) -> int | None:
        return None

    def _usage(self) -> Any:
        usage = self.environ.get(_USAGE_KEY)
        if usage is None:
            with mapped():
                usage = self.environ[_USAGE_KEY] = self.session.usage()
        return usage

    def get_property_value(self, name: str) -> Any:
        if name in QUOTA_PROPS and self.is_collection:
            usage = self._usage()
            if name == QUOTA_PROPS[0]:
                return str(usage.used_bytes)
            avail = usage.available_bytes
            if avail is None:  # no quota: the blob store's free space (from the core)
                avail = self.provider.free_bytes()
            return str(avail)
        if name.startswith("{DAV:}"):
            return super().get_property_value(name)  # type: ignore[misc]
        value = self._dead().get(name)
        if value is None:
            raise DAVError(404)
        return xml_tools.string_to_xml(value)

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> Any:
        if name.startswith("{DAV:}"):
            return super().set_property_value(name, value, dry_run=dry_run)  # type: ignore[misc]
        if self.entry is None:
            raise DAVError(404)
        if dry_run:  # permission and locks: decided (and a refusal audited) by the core
            return None
        tokens = lock_tokens(self.environ)
        if name == MS_NS + "Win32LastModifiedTime" and value is not None and value.text:
            try:
                mtime = parsedate_to_datetime(value.text.strip())
            except (TypeError, ValueError):
                mtime = None
            if mtime is not None:
                with mapped():
                    self.entry = self.session.set_mtime(
                        self.spath, mtime if mtime.tzinfo else mtime.replace(tzinfo=UTC),
                        tokens)
        text = None if value is None else \
            xml_tools.xml_to_bytes(value, pretty=False).decode("utf-8")
        with mapped():
            self.session.set_props(self.spath, {name: text}, tokens)
        self._props = None
        self._parent_props = None
        return None

    def remove_all_properties(self, *, recursive: bool) -> None:
        return None  # properties belong to the node: deleting it drops them (FK cascade)

    # --- copy / move (one core transaction each) ----------------------------------------
    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool | list[Any]:
        dest = _norm(dest_path)
        existed = self.provider.get_resource_inst(dest, self.environ)
        with mapped():
            self.session.copy(self.spath, dest, overwrite=True, recursive=depth_infinity,
                              lock_tokens=lock_tokens(self.environ))
        return self._done(existed is None)

    def handle_move(self, dest_path: str) -> bool | list[Any]:
        dest = _norm(dest_path)
        existed = self.provider.get_resource_inst(dest, self.environ)
        with mapped():
            self.session.move(self.spath, dest, overwrite=True,
                              lock_tokens=lock_tokens(self.environ))
        return self._done(existed is None)

    def _done(self, created: bool) -> bool | list[Any]:
        """wsgidav answers 204 for a handled COPY/MOVE; RFC 4918 wants 201 for a new one:
        a single "error" on the request URL makes it send exactly that status."""
        if created:
            return [(self.get_href(), DAVError(201))]  # type: ignore[attr-defined]
        return True

    def handle_delete(self) -> bool:
        """DELETE as one core call (one audit event, locks below checked by the core):
        wsgidav's generic path would list every subfolder (audited listings)."""
        self.delete()  # type: ignore[attr-defined]
        return True


class FileResource(_Mixin, DAVNonCollection):
    """A file (or, with ``entry`` None, a file about to be created by PUT)."""

    def __init__(self, path: str, environ: dict[str, Any], session: Session,
                 entry: Entry | None, parent_props: _ChildProps | None = None) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self._init(session, entry, parent_props)
        self._upload: Upload | None = None

    def get_content_length(self) -> int:
        return self.entry.size if self.entry else 0

    def get_content_type(self) -> str:
        guess, _ = mimetypes.guess_type(self.spath)
        return guess or "application/octet-stream"

    def get_etag(self) -> str | None:
        return self.entry.etag if self.entry else None

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> FileReader | Prefetch:
        with mapped():
            reader = self.session.open_read(self.spath)
        if reader.size >= READ_AHEAD_MIN and "HTTP_RANGE" not in self.environ:
            return Prefetch(reader)
        return reader

    def begin_write(self, *, content_type: str | None = None) -> Upload:
        expected = expected_length(self.environ)
        with mapped():
            writer = self.session.open_write(self.spath, expected_length=expected,
                                             lock_tokens=lock_tokens(self.environ))
        self._upload = Upload(self, writer)
        return self._upload

    def end_write(self, *, with_errors: bool) -> None:
        upload, self._upload = self._upload, None
        if upload is not None and with_errors and not upload.writer.closed:
            upload.writer.abort("the request body could not be read completely")

    def delete(self) -> None:
        with mapped():
            self.session.delete(self.spath, lock_tokens=lock_tokens(self.environ))


class FolderResource(_Mixin, DAVCollection):
    """A folder; members are streamed from the catalog page by page."""

    def __init__(self, path: str, environ: dict[str, Any], session: Session,
                 entry: Entry | None, parent_props: _ChildProps | None = None) -> None:
        DAVCollection.__init__(self, path, environ)
        self._init(session, entry, parent_props)

    def get_etag(self) -> str | None:
        return None

    def _iter_members(self) -> Iterator[FileResource | FolderResource]:
        props = _ChildProps(self.session, self.spath)
        with mapped():
            entries = self.session.list(self.spath)
        for entry in entries:
            path = _join(self.spath, entry.name)
            cls = FolderResource if entry.is_dir else FileResource
            yield cls(path, self.environ, self.session, entry, props)

    def get_member_names(self) -> list[str]:
        return [m.name for m in self._iter_members()]

    def get_member_list(self) -> list[FileResource | FolderResource]:  # type: ignore[override]
        return list(self._iter_members())

    def get_member(self, name: str) -> FileResource | FolderResource | None:
        return self.provider.get_resource_inst(_join(self.spath, name), self.environ)

    def create_empty_resource(self, name: str) -> FileResource:
        path = _join(self.spath, name)
        if self.environ.get("REQUEST_METHOD") == "LOCK":
            # lock-null: the empty file is created once the lock is granted (locks.py)
            self.environ[LOCK_NULL_KEY] = path
        return FileResource(path, self.environ, self.session, None)

    def create_collection(self, name: str) -> FolderResource:
        path = _join(self.spath, name)
        with mapped():
            entry = self.session.mkdir(path, lock_tokens=lock_tokens(self.environ))
        return FolderResource(path, self.environ, self.session, entry)

    def support_recursive_delete(self) -> bool:
        return True

    def delete(self) -> None:
        with mapped():
            self.session.delete(self.spath, recursive=True,
                                lock_tokens=lock_tokens(self.environ))


class LumanoxProvider(DAVProvider):
    """One provider for every tenant: the root URL is the logged-in user's tenant root."""

    def __init__(self, free_bytes: Any = None) -> None:
        super().__init__()
        self._free_bytes = free_bytes

    def is_readonly(self) -> bool:
        return False

    def custom_request_handler(self, environ: dict[str, Any], start_response: Any,
                               default_handler: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "PROPFIND":
            from gateway.webdav import propfind

            return propfind.handle(self, environ, start_response, default_handler)
        return default_handler(environ, start_response)

    def free_bytes(self) -> int:
        return int(self._free_bytes()) if self._free_bytes else 0

    def get_resource_inst(self, path: str, environ: dict[str, Any]
                          ) -> FileResource | FolderResource | None:
        session: Session | None = environ.get(SESSION_KEY)
        if session is None:
            raise DAVError(401)
        if "lumanox.screened" not in environ:
            _screen(session, environ)
        spath = _norm(path)
        cache = environ.get(_RES_CACHE_KEY)
        if cache is None and environ.get("REQUEST_METHOD") in _READ_ONLY_METHODS:
            cache = environ[_RES_CACHE_KEY] = {}
        if cache is not None and spath in cache:
            return cache[spath]
        res = self._resolve(session, spath, environ)
        if cache is not None:
            cache[spath] = res
        return res

    def _resolve(self, session: Session, spath: str, environ: dict[str, Any]
                 ) -> FileResource | FolderResource | None:
        prepare = _PREPARE.get(environ.get("REQUEST_METHOD", "")) \
            if _norm(environ.get("PATH_INFO", "/")) == spath else None  # the URL it opens
        try:
            entry = session.stat_quiet(spath, prepare=prepare)
            if _is_request_target(environ, spath, entry.is_dir):
                entry = session.stat(spath)  # the audited, permission-checked operation
        except (NotFound, NotADirectory):
            _record_miss(session, environ, spath)
            return None
        except GatewayError as exc:
            raise to_dav(exc) from None
        cls = FolderResource if entry.is_dir else FileResource
        return cls(spath, environ, session, entry)


def _screen(session: Session, environ: dict[str, Any]) -> None:
    """Before the request URL (and a COPY/MOVE Destination) is resolved: a path the user
    may not see is answered 404 at once, as a missing one is, so no later step (a 405 for
    an existing folder, a 412 for an existing target, a 409 for a missing parent...) can
    tell hidden from missing. The refusal is audited by the core."""
    environ["lumanox.screened"] = True
    method = environ.get("REQUEST_METHOD", "")
    needs = _NEEDS.get(method)
    if needs is None:
        return
    targets = [(environ.get("PATH_INFO", "/"), *needs)]
    if method in ("COPY", "MOVE") and environ.get("HTTP_DESTINATION"):
        dest = unquote(urlparse(environ["HTTP_DESTINATION"], allow_fragments=False).path)
        targets.append((dest, needs[0], "write"))
    for path, action, perm in targets:
        try:
            session.screen(action, perm, path)
        except HiddenPath:
            raise DAVError(404, context_info=environ.get("PATH_INFO", "/")) from None
        except InvalidName:
            return  # answered 400 when the path is resolved


def _record_miss(session: Session, environ: dict[str, Any], spath: str) -> None:
    """Audit a request whose URL names nothing (once per request): probes are visible."""
    method = environ.get("REQUEST_METHOD", "")
    if method not in _MISS_METHODS or environ.get("lumanox.miss_done"):
        return
    if _norm(environ.get("PATH_INFO", "/")) != spath:
        return
    environ["lumanox.miss_done"] = True
    try:
        path = normalize_path(spath)
    except InvalidName:
        return
    session.record(_NEEDS[method][0], path=path, result="miss", reason="not-found")


def _is_request_target(environ: dict[str, Any], spath: str, is_dir: bool) -> bool:
    """HEAD and PROPFIND (but a folder's Depth 1, audited as a listing) touch no content:
    their stat is the request's audited operation."""
    method = environ.get("REQUEST_METHOD")
    if method not in ("PROPFIND", "HEAD") or environ.get("lumanox.stat_done"):
        return False
    if _norm(environ.get("PATH_INFO", "/")) != spath:
        return False
    if method == "PROPFIND" and is_dir and environ.get("HTTP_DEPTH", "1") != "0":
        return False
    environ["lumanox.stat_done"] = True
    return True
