"""Inline SVG charts, drawn here on the server: no script, no external font or style.

``volume_chart`` draws the transfer volume (uploaded + downloaded bytes) per day as bars
stacked by protocol. Every label is escaped (and control characters made visible); the
result is ``Markup`` to put into an autoescaped template as it is.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup, escape

from gateway.textout import human_size, printable

#: a protocol's colour in every chart (the tests look for these pixels)
COLOURS = {"webdav": "#1f77b4", "sftp": "#ff7f0e", "scp": "#2ca02c", "admin": "#7f7f7f"}
OTHER = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 280, 80, 40, 16


def colour(protocol: str, others: list[str]) -> str:
    if protocol in COLOURS:
        return COLOURS[protocol]
    if protocol not in others:
        others.append(protocol)
    return OTHER[others.index(protocol) % len(OTHER)]


def _text(x: float, y: float, label: str, anchor: str = "start") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" font-family="sans-serif" '
            f'text-anchor="{anchor}">{escape(printable(label))}</text>')


def _days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def volume_chart(volume: list[dict[str, Any]]) -> Markup:
    """Bytes per day stacked by protocol, from ``Totals.volume`` rows."""
    per_day: dict[str, dict[str, int]] = defaultdict(dict)
    for r in volume:
        per_day[r["day"]][r["protocol"]] = r["upload_bytes"] + r["download_bytes"]
    if not any(v for d in per_day.values() for v in d.values()):
        return Markup('<p class="empty">No file transfers in this period.</p>')
    days = _days(min(per_day), max(per_day))
    top = max(sum(d.values()) for d in per_day.values())
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP
    slot = plot_w / len(days)
    bar = min(max(slot * 0.8, 1.0), 48.0)
    others: list[str] = []
    protocols = sorted({p for d in per_day.values() for p in d})
    parts = [f'<svg width="{WIDTH}" height="{HEIGHT + 24}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT + 24}" role="img" '
             'aria-label="transfer volume per day and protocol">',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 10}" y2="{TOP + plot_h}" '
             'stroke="#333"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>',
             _text(LEFT - 6, TOP + 10, human_size(top), "end"),
             _text(LEFT - 6, TOP + plot_h, "0", "end")]
    for i, day in enumerate(days):
        y = TOP + plot_h
        for proto in protocols:
            value = per_day.get(day, {}).get(proto, 0)
            if not value:
                continue
            h = max(plot_h * value / top, 1.0)
            y -= h
            parts.append(f'<rect x="{LEFT + i * slot + (slot - bar) / 2:.2f}" y="{y:.2f}" '
                         f'width="{bar:.2f}" height="{h:.2f}" '
                         f'fill="{colour(proto, others)}"><title>'
                         f'{escape(printable(f"{day} {proto}: {human_size(value)}"))}'
                         '</title></rect>')
    for i in sorted({0, len(days) // 2, len(days) - 1}):
        parts.append(_text(LEFT + (i + 0.5) * slot, TOP + plot_h + 16, days[i], "middle"))
    x = LEFT
    for proto in protocols:
        parts.append(f'<rect x="{x}" y="{HEIGHT + 6}" width="12" height="12" '
                     f'fill="{colour(proto, others)}"/>')
        parts.append(_text(x + 16, HEIGHT + 16, proto))
        x += 24 + 8 * len(printable(proto))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label went through escape()
