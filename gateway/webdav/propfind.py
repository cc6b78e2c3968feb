"""A streaming PROPFIND for the common case: Depth 0/1, ``allprop`` or named live
properties, no locks in the way. The multistatus is written page by page while
``Session.list`` pages through the catalog, so a 10,000-entry folder never sits in memory
as one XML tree. Anything else (propname, dead properties asked by name, If headers, locked
resources) falls back to wsgidav's handler, which is the reference behaviour.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from wsgidav import util

from gateway.session import Entry
from gateway.webdav.errors import mapped

if TYPE_CHECKING:
    from gateway.webdav.resources import FileResource, FolderResource, LumanoxProvider

D = "{DAV:}"
LIVE = ("resourcetype", "creationdate", "getcontentlength", "getcontenttype",
        "getlastmodified", "displayname", "getetag", "lockdiscovery", "supportedlock")
QUOTA = ("quota-used-bytes", "quota-available-bytes")
SAFE = "/!*'(),$-_|."
SUPPORTED_LOCK = ("<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/></D:lockscope>"
                  "<D:locktype><D:write/></D:locktype></D:lockentry><D:lockentry><D:lockscope>"
                  "<D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>"
                  "</D:supportedlock>")
OK, NOT_FOUND = "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"
PAGE = 200
CONDITIONAL = ("HTTP_IF", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
               "HTTP_IF_UNMODIFIED_SINCE")


def requested(environ: dict[str, Any]) -> list[str] | None:
    """``[]`` for allprop, the local names of requested DAV: live properties, or None when
    the request needs the general handler."""
    if any(environ.get(h) for h in CONDITIONAL) or \
            environ.get("HTTP_DEPTH", "infinity") not in ("0", "1"):
        return None
    body = util.parse_xml_body(environ, allow_empty=True)  # malformed: DAVError 400
    environ["lumanox.propfind_body"] = body
    if body is None:
        return []
    if body.tag != D + "propfind" or len(body) != 1:
        return None
    mode = body[0]
    if mode.tag == D + "allprop":
        return []
    if mode.tag != D + "prop" or len(mode) == 0:
        return None
    names = []
    for el in mode:
        if not el.tag.startswith(D) or el.tag[len(D):] not in LIVE + QUOTA:
            return None  # dead or unknown properties: the general handler
        names.append(el.tag[len(D):])
    return names


def handle(provider: LumanoxProvider, environ: dict[str, Any], start_response: Any,
           default_handler: Any) -> Iterator[bytes] | list[bytes]:
    names = requested(environ)
    if names is None:
        return _fallback(environ, start_response, default_handler)
    res = provider.get_resource_inst(environ["PATH_INFO"], environ)
    if res is None or _locks_in_the_way(provider, res):
        return _fallback(environ, start_response, default_handler)
    members = None
    if res.is_collection and environ.get("HTTP_DEPTH") == "1":
        with mapped():
            members = res.session.list(res.spath)  # audited; raises before we answer
    usage = res._usage() if res.is_collection and set(names) & set(QUOTA) else None
    start_response("207 Multi-Status", [("Content-Type", "application/xml; charset=utf-8"),
                                        ("Date", util.get_rfc1123_time())])
    return _stream(provider, res, members, names, usage)


def _fallback(environ: dict[str, Any], start_response: Any, default_handler: Any
              ) -> Iterator[bytes] | list[bytes]:
    body = environ.pop("lumanox.propfind_body", None)
    if body is not None or environ.get("wsgidav.all_input_read"):
        # the body was consumed: hand the parsed request to wsgidav again
        import io

        raw = b"" if body is None else util.xml_to_bytes(body, pretty=False)
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        environ.pop("wsgidav.all_input_read", None)
    return default_handler(environ, start_response)


def _locks_in_the_way(provider: LumanoxProvider, res: FileResource | FolderResource) -> bool:
    manager = provider.lock_manager
    if manager is None:
        return False
    url = res.get_ref_url().rstrip("/") or "/"
    for lock in manager.storage.get_lock_list("/", include_root=True, include_children=True,
                                              token_only=False):
        root = lock["root"]
        if util.is_equal_or_child_uri(url, root) or util.is_equal_or_child_uri(root, url):
            return True
    return False


def _stream(provider: LumanoxProvider, res: FileResource | FolderResource,
            members: Iterator[Entry] | None, names: list[str], usage: Any
            ) -> Iterator[bytes]:
    from gateway.webdav.resources import _ChildProps, _join

    yield b'<?xml version="1.0" encoding="utf-8" ?>\n<D:multistatus xmlns:D="DAV:">'
    target_dead = res._dead() if not names else {}
    yield _response(res.spath, res.entry, res.is_collection, names, target_dead, usage,
                     provider).encode("utf-8")
    if members is None:
        yield b"</D:multistatus>\n"
        return
    props = _ChildProps(res.session, res.spath)
    buf: list[str] = []
    for entry in members:
        dead = props.of(entry.name) if not names else {}
        buf.append(_response(_join(res.spath, entry.name), entry, entry.is_dir, names, dead,
                             usage, provider))
        if len(buf) >= PAGE:
            yield "".join(buf).encode("utf-8")
            buf.clear()
    buf.append("</D:multistatus>\n")
    yield "".join(buf).encode("utf-8")


def _response(path: str, entry: Entry | None, is_dir: bool, names: list[str],
              dead: dict[str, str], usage: Any, provider: LumanoxProvider) -> str:
    href = quote(path if not is_dir or path.endswith("/") else path + "/", safe=SAFE)
    found, missing = [], []
    for name in names or LIVE:
        value = _live(name, entry, is_dir, path, usage, provider)
        if value is None:
            if names:
                missing.append(f"<D:{name}/>")
        else:
            found.append(value)
    found.extend(dead.values())
    out = [f"<D:response><D:href>{href}</D:href>"]
    if found:
        out.append(f"<D:propstat><D:prop>{''.join(found)}</D:prop>"
                   f"<D:status>{OK}</D:status></D:propstat>")
    if missing:
        out.append(f"<D:propstat><D:prop>{''.join(missing)}</D:prop>"
                   f"<D:status>{NOT_FOUND}</D:status></D:propstat>")
    out.append("</D:response>")
    return "".join(out)


def _live(name: str, e: Entry | None, is_dir: bool, path: str, usage: Any,
          provider: LumanoxProvider) -> str | None:
    if name == "resourcetype":
        return "<D:resourcetype><D:collection/></D:resourcetype>" if is_dir \
            else "<D:resourcetype/>"
    if name == "lockdiscovery":
        return "<D:lockdiscovery/>"
    if name == "supportedlock":
        return SUPPORTED_LOCK
    if name in QUOTA:
        if not is_dir or usage is None:
            return None
        if name == "quota-used-bytes":
            return f"<D:{name}>{usage.used_bytes}</D:{name}>"
        avail = usage.available_bytes
        return f"<D:{name}>{provider.free_bytes() if avail is None else avail}</D:{name}>"
    if e is None:
        return None
    if name == "creationdate":
        return f"<D:creationdate>{util.get_rfc3339_time(int(e.ctime.timestamp()))}" \
               "</D:creationdate>"
    if name == "getlastmodified":
        return f"<D:getlastmodified>{util.get_rfc1123_time(int(e.mtime.timestamp()))}" \
               "</D:getlastmodified>"
    if name == "displayname":
        return f"<D:displayname>{escape(e.name)}</D:displayname>"
    if is_dir:
        return None
    if name == "getcontentlength":
        return f"<D:getcontentlength>{e.size}</D:getcontentlength>"
    if name == "getcontenttype":
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return f"<D:getcontenttype>{escape(ctype)}</D:getcontenttype>"
    if name == "getetag":
        return f"<D:getetag>{escape(e.etag)}</D:getetag>"
    return None
