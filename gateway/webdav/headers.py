"""Response headers that keep user content inert on the gateway's origin.

Browsers hold the Basic credentials of a user who opened the gateway once: an uploaded
HTML or SVG file that ran as script there could act as that user. So every response says
``nosniff``; file content gets a sandboxing CSP (no script, no plugin, a unique origin) and
active types (HTML, SVG, XML, JavaScript, ...) are served as downloads. The folder listing
is our own page: no script, its one stylesheet allowed by hash.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

LISTING_KEY = "lumanox.listing"
CONTENT_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
ACTIVE_EXTENSIONS = frozenset({
    ".htm", ".html", ".shtml", ".xht", ".xhtml", ".mht", ".mhtml", ".svg", ".svgz",
    ".xml", ".xsl", ".xslt", ".rdf", ".js", ".mjs", ".cjs", ".swf", ".hta", ".vbs",
})
ACTIVE_TYPES = ("text/html", "application/xhtml", "image/svg", "text/xml", "application/xml",
                "text/xsl", "application/xslt", "text/javascript", "application/javascript",
                "application/ecmascript", "text/ecmascript", "application/x-shockwave-flash",
                "multipart/x-mixed-replace")

LISTING_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.25em .75em;border-bottom:1px solid #ddd}"
    "td.n{text-align:right;white-space:nowrap}tr.dir a{font-weight:bold}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(LISTING_STYLE.encode()).digest()).decode()
LISTING_CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'none'; "
               "frame-ancestors 'none'; base-uri 'none'")
LISTING_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Index of {{ display_path }}</title>
<style>""" + LISTING_STYLE + """</style></head>
<body><h1>Index of {{ display_path }}</h1>
<table><thead><tr><th>Name</th><th>Type</th><th>Size</th><th>Last modified</th></tr></thead>
<tbody>
{%- if not is_top_dir %}<tr class="dir"><td><a href="..">..</a></td><td>Folder</td>
<td class="n">-</td><td></td></tr>{% endif %}
{%- for row in rows %}
<tr{% if row.is_collection %} class="dir"{% endif %}><td><a href="{{ row.href }}">
{{- row.display_name }}</a></td><td>{{ row.display_type }}</td>
<td class="n">{{ row.str_size }}</td><td>{{ row.str_modified }}</td></tr>
{%- endfor %}
</tbody></table></body></html>
"""

StartResponse = Callable[..., Any]


def is_active(path: str, content_type: str) -> bool:
    """Would a browser run this as a document or script?"""
    ext = posixpath.splitext(path.lower())[1]
    ctype = content_type.split(";")[0].strip().lower()
    return ext in ACTIVE_EXTENSIONS or ctype.startswith(ACTIVE_TYPES) or \
        ctype.endswith("+xml")


def attachment(path: str) -> str:
    """``Content-Disposition: attachment`` with the file's name (RFC 6266 / 8187)."""
    name = posixpath.basename(path.rstrip("/")) or "download"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def secured(environ: dict[str, Any], start_response: StartResponse) -> StartResponse:
    """``start_response`` that adds the content-security headers to every response."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        names = {name.lower() for name, _ in headers}
        extra = [("X-Content-Type-Options", "nosniff")] if \
            "x-content-type-options" not in names else []
        listing = environ.get(LISTING_KEY) and status.startswith("200")
        if "content-security-policy" not in names:
            extra.append(("Content-Security-Policy", LISTING_CSP if listing else CONTENT_CSP))
        if not listing and environ["REQUEST_METHOD"] in ("GET", "HEAD") and \
                status[:1] == "2" and "content-disposition" not in names:
            ctype = next((v for n, v in headers if n.lower() == "content-type"), "")
            if is_active(environ.get("PATH_INFO", ""), ctype):
                extra.append(("Content-Disposition", attachment(environ["PATH_INFO"])))
        return start_response(status, headers + extra, exc_info)

    return start


def mark_passed_on(next_app: Any) -> Callable[[dict[str, Any], StartResponse], Any]:
    """Wrap the app after the folder listing: whatever reaches it is not a listing."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Any:
        environ[LISTING_KEY] = False
        return next_app(environ, start_response)

    return app
