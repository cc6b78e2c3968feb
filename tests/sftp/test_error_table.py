"""The error table of docs/sftp.md is what ``gateway.sftp.errors.to_sftp`` does."""

from __future__ import annotations

import re
from pathlib import Path

import asyncssh.sftp
import pytest

from gateway import errors
from gateway.sftp.errors import to_sftp

DOC = Path(__file__).resolve().parents[2] / "docs" / "sftp.md"
DETAIL = "the detail"


def _rows() -> list[tuple[str, str, str]]:
    """(error class, status name, text) for every class named in the table."""
    section = DOC.read_text(encoding="utf-8").split("## Errors", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("FX_"):
            for name in re.findall(r"`(\w+)`", cells[0]):
                rows.append((name, cells[1], cells[2].replace("DETAIL", DETAIL)))
    return rows


ROWS = _rows()


def test_the_table_names_every_error_a_session_raises() -> None:
    named = {name for name, _, _ in ROWS}
    assert {"NotFound", "HiddenPath", "PermissionDenied", "Locked", "QuotaExceeded",
            "AlreadyExists", "IsADirectory", "NotADirectory", "InvalidMove",
            "IncompleteUpload", "BackendError"} <= named


@pytest.mark.parametrize(("name", "status", "text"), ROWS, ids=[r[0] for r in ROWS])
def test_each_row_is_the_mapping(name: str, status: str, text: str) -> None:
    exc = getattr(errors, name)(DETAIL)
    sftp_error = to_sftp(exc)
    assert sftp_error.code == getattr(asyncssh.sftp, status)
    assert sftp_error.reason == text
