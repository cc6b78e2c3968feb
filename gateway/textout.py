"""Human-readable tables and JSON output (the CLI, audit exports and reports).

Strings a client controls (file names, SSH banners, User-Agents kept in audit records)
may carry terminal escape sequences. Everything printed for people goes through
``printable``: C0/C1 control characters, DEL and bidi overrides become visible escapes
(``\x1b``, ``\x9b``, ``\u202e``). JSON stays lossless: the same characters are written
as JSON escapes (``\u001b``), never raw.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

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


def table(rows: list[list[str]], headers: tuple[str, ...] | list[str]) -> str:
    rows = [[printable(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def dump_json(value: Any) -> str:
    return json_safe(json.dumps(to_jsonable(value), indent=2, sort_keys=True,
                                ensure_ascii=False))


UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """``10G``, ``500M``, ``1024``; ``-1`` / ``none`` removes a limit (returns -1)."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t in ("none", "-1", "unlimited"):
        return -1
    unit = t[-1] if t and t[-1] in UNITS else ""
    number = t[: len(t) - len(unit)] if unit else t
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size: write e.g. 500M, 10G or none") from None
    return int(value * UNITS[unit])


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
