"""Daily UTC time windows written ``HH:MM-HH:MM`` (may wrap past midnight), e.g. the
maintenance window of the alert rule ``admin_outside_window``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse_window(text: str) -> tuple[time, time]:
    """``"22:00-06:00"`` -> (start, end); ValueError naming the expected form."""
    m = _WINDOW.match(text.strip())
    if not m:
        raise ValueError(f"expected HH:MM-HH:MM (UTC, e.g. 22:00-06:00), got {text!r}")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    return time(h1, m1), time(h2, m2)


def in_window(when: datetime, text: str) -> bool:
    """Whether the UTC time of day of ``when`` lies in the window (start included)."""
    start, end = parse_window(text)
    t = (when.astimezone(UTC) if when.tzinfo else when).time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end
