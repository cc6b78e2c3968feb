"""Text that is safe to print or to write as JSON, whoever supplied it.

Strings a client controls (file names, SSH banners, User-Agents kept in audit records)
may carry terminal escape sequences. Everything printed for people goes through
``printable``: C0/C1 control characters, DEL and bidi overrides become visible escapes
(``\x1b``, ``\x9b``, ``\u202e``). JSON stays lossless: the same characters are written
as JSON escapes (``\u001b``), never raw.
"""

from __future__ import annotations

import re

#: characters a terminal may act on: C0 controls, DEL, C1 controls, bidi embeddings,
#: overrides and isolates, and the line/paragraph separators
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069]")


#: the same minus C0 controls: json.dumps escapes those itself, and its layout uses \n
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                          "\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on shown as an escape."""
    return _UNSAFE.sub(_visible, text)


def printable_lines(text: str) -> str:
    """``printable`` for each line of a multi-line message (the line breaks stay)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps``) with DEL, C1 and bidi characters escaped too.

    ``json.dumps(ensure_ascii=False)`` escapes only C0 controls; the others can only occur
    inside JSON strings, where ``\\uXXXX`` means the same character."""
    return _JSON_UNSAFE.sub(_json_escape, text)
