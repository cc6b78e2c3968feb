"""The HTML activity report is one self-contained file: it opens in headless chromium
with its chart drawn (the protocols' colours are on the screenshot), loads nothing from
anywhere (no script, no URL, no external font or image), and shows hostile names escaped
(markup as text, control characters as visible escapes)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cli_runner import CliEnv
from reports_trail import Trail, count_colour, write_chained
from sftp.conftest import need

from gateway.audit import AuditEvent
from gateway.compliance.reports.svg import COLOURS
from gateway.config import load_config
from gateway.core import Core

TRAIL = Trail(600, days=30)
HOSTILE_USER = "<script>alert(1)</script>"
HOSTILE_PATH = "/evil\x1b[2J\u202etxt.exe"
#: elements a report may use; none of them loads anything
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div",
                "strong", "small", "ul", "li", "table", "tr", "th", "td", "svg", "rect",
                "line", "text"}
LOADING_ATTRS = {"src", "href", "xlink:href", "srcset", "action", "formaction", "poster",
                 "data", "background"}


class Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs |= {name for name, _ in attrs}


@pytest.fixture
def report_html(tmp_path: Path) -> Path:
    gw = CliEnv(tmp_path)
    gw.run("init")
    with Core.open(load_config(gw.config), audit_log="off") as core:
        write_chained(core, TRAIL)
        core.audit.write_now([
            AuditEvent(action="login", protocol="webdav", chain=TRAIL.chain, tenant="acme",
                       user=HOSTILE_USER, result="denied", remote_addr="198.51.100.9",
                       reason="method=password; user: unknown user",
                       ts=datetime(2025, 1, 20, tzinfo=UTC)),
            AuditEvent(action="write", protocol="sftp", chain=TRAIL.chain, tenant="acme",
                       user="alice", path=HOSTILE_PATH, bytes=10,
                       ts=datetime(2025, 1, 21, tzinfo=UTC))])
        from gateway.auditv2 import checkpoint

        checkpoint.write(core.config.audit_checkpoint_file, core.audit.key, core.catalog)
    out = tmp_path / "report.html"
    gw.run("report", "activity", "--tenant", "acme", "--format", "html", "--out", str(out))
    return out


def test_html_is_self_contained_and_escaped(report_html: Path) -> None:
    text = report_html.read_text(encoding="utf-8")
    parsed = Markup()
    parsed.feed(text)
    assert parsed.tags <= ALLOWED_TAGS, parsed.tags - ALLOWED_TAGS
    assert not parsed.attrs & LOADING_ATTRS
    lowered = text.lower()
    for needle in ("<script", "http:", "https:", "url(", "@import", "@font-face", "//"):
        assert needle not in lowered, needle
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown, not run
    assert "\x1b" not in text and "\u202e" not in text
    assert "/evil\\x1b[2J\\u202etxt.exe" in text  # visible escapes
    assert 'id="chain"' in text and "VERIFIED INTACT" in text
    assert "events-cut" not in text  # all 602 events fit under the default 1000
    assert text.count("<tr>") > TRAIL.n


def test_html_chart_renders_in_chromium(report_html: Path, tmp_path: Path) -> None:
    chromium = need("chromium")
    shot = tmp_path / "shot.png"
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1200,2000",
                        report_html.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), p.stderr[-2000:]
    for protocol in ("webdav", "sftp", "scp"):
        rgb = tuple(bytes.fromhex(COLOURS[protocol][1:]))
        # bars, not just the 12x12 legend swatch
        assert count_colour(shot, rgb) > 2000, protocol  # type: ignore[arg-type]
    assert count_colour(shot, (0x1e, 0x7e, 0x34)) > 100  # the green "verified" frame
