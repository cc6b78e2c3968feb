"""The gateway.toml of a test ``serve`` in one folder: the data dir ``var``, no audit log
file, the certificates and host keys under ``certs/`` (relative to the config), one
worker per front-end (``webdav_workers`` for more). ``sections`` adds lines to a section
the config has already (``webdav``, ``sftp``, ``policy``...: a TOML table may appear
only once); ``extra`` appends whole sections of its own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

BASE = """
[gateway]
data_dir = "var"
[audit]
log = "off"
batch_max_delay_ms = 2
[tls]
cert_file = "certs/gw.crt"
key_file = "certs/gw.key"
[policy]
[webdav]
port = {webdav}
workers = {webdav_workers}
[sftp]
port = {sftp}
workers = 1
host_keys = ["certs/ssh_host_ed25519_key", "certs/ssh_host_ecdsa_key"]
"""


def write_gateway_toml(base: Path, webdav: int, sftp: int, *, webdav_workers: int = 1,
                       sections: Mapping[str, str] | None = None, extra: str = "") -> Path:
    """Write ``base/gateway.toml`` and return its path."""
    text = BASE.format(webdav=webdav, sftp=sftp, webdav_workers=webdav_workers)
    path = base / "gateway.toml"
    path.write_text(with_lines(text, sections) + extra, encoding="utf-8")
    return path


def with_lines(text: str, sections: Mapping[str, str] | None) -> str:
    """``text`` (a TOML config) with each section's extra lines added under its header."""
    for section, lines in (sections or {}).items():
        header = f"\n[{section}]\n"
        assert header in text, f"no [{section}] in the test config: add it whole instead"
        text = text.replace(header, f"{header}{lines.strip()}\n", 1)
    return text
