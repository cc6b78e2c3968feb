"""Audit events as ArcSight CEF lines (Common Event Format 0), for SIEMs.

``CEF:0|Lumanox|Gateway|1|<action>|<action result>|<severity>|<extension>``: the header
escapes ``\\`` and ``|`` (line breaks become spaces: a header is one line), the extension
escapes ``\\`` and ``=`` and writes line breaks as ``\\n`` / ``\\r``, as the CEF
specification says. ``externalId`` is ``chain:seq``, unique per event: a SIEM can drop a
repeated line with it (see export.py for when a pipe may repeat the last batch).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

VENDOR, PRODUCT, VERSION = "Lumanox", "Gateway", "1"
#: severity (0-10) by result; a successful delete or administrative change weighs more
SEVERITY = {"ok": 3, "miss": 3, "error": 6, "denied": 7}
WEIGHTY = 5


def header_escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def ext_escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def _millis(ts: Any) -> int | None:
    if not isinstance(ts, datetime):
        return None
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1000)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _severity(row: Mapping[str, Any]) -> int:
    base = SEVERITY.get(row["result"], 5)
    if row["result"] == "ok" and (row["action"] == "delete" or row["protocol"] == "admin"):
        return WEIGHTY
    return base


def cef_line(row: Mapping[str, Any], chain: str) -> str:
    """One event (a row of ``audit_events``) as one CEF line, newline included."""
    action = row["action"]
    ext: list[tuple[str, Any]] = [
        ("rt", _millis(row["ts"])), ("externalId", f"{chain}:{row['seq']}"),
        ("act", action), ("outcome", row["result"]), ("app", row["protocol"]),
        ("suser", row["user"]),
        ("src" if row["remote_addr"] and _is_ip(row["remote_addr"]) else "shost",
         row["remote_addr"]),
        ("filePath", row["path"]), ("reason", row["reason"]),
        ("out" if action == "read" else "in", row["bytes"]),
        ("cs1Label", "tenant"), ("cs1", row["tenant"]),
        ("cs2Label", "sessionId"), ("cs2", row["session_id"]),
        ("cs3Label", "destinationPath"), ("cs3", row["dest_path"]),
        ("cs4Label", "sha256"), ("cs4", row["sha256"]),
        ("cs5Label", "auditHash"), ("cs5", row["hash"]),
        ("cn1Label", "durationMs"), ("cn1", row["duration_ms"]),
    ]
    # a label without its value is noise: drop both
    values = dict(ext)
    parts = [f"{k}={ext_escape(str(v))}" for k, v in ext if v is not None and not (
        k.endswith("Label") and values.get(k[:-5]) is None)]
    head = "|".join(header_escape(x) for x in (
        "CEF:0", VENDOR, PRODUCT, VERSION, action, f"{action} {row['result']}",
        str(_severity(row))))
    return f"{head}|{' '.join(parts)}\n"
