"""Human-readable tables and JSON output for the CLI.

Everything printed goes through ``gateway.textsafe`` (control characters and bidi
overrides a client could plant become visible escapes; JSON stays lossless)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.textsafe import json_safe, printable, printable_lines

__all__ = ["json_safe", "printable", "printable_lines"]  # the CLI modules import them here

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
