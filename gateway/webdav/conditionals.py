"""HTTP date conditionals as RFC 9110 has them, for wsgidav.

wsgidav answers 304 to ``If-Modified-Since`` only when the resource is strictly older than
the date, so a client sending back exactly the ``Last-Modified`` it received gets the whole
body again (and ``If-Unmodified-Since`` equal to it would pass by luck of the same
comparison). HTTP dates have whole seconds: comparing against the last modification time
minus half a second makes "not modified since <its own Last-Modified>" true and keeps
every strictly earlier date "modified", for both headers.
"""

from __future__ import annotations

from typing import Any

from wsgidav import util

_original = util.evaluate_http_conditionals


def _evaluate(dav_res: Any, last_modified: float | None, entity_tag: str | None,
              environ: dict[str, Any]) -> Any:
    if last_modified is not None:
        last_modified = int(last_modified) - 0.5
    return _original(dav_res, last_modified, entity_tag, environ)


def install() -> None:
    """Route wsgidav's conditional evaluation through ``_evaluate`` (idempotent)."""
    util.evaluate_http_conditionals = _evaluate
