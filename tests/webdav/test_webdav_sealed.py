"""The WebDAV front-end is sealed: it imports only the core's public surface (Access,
Session, Gate, errors, config), never the catalog, stores, keys, audit or SQL
(the "webdav is sealed" import-linter contract in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lint_imports_keeps_the_webdav_contract() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is part of the test extra"
    p = subprocess.run([str(lint_imports), "--contract", "webdav-sealed", "--no-cache"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "webdav is sealed KEPT" in p.stdout, p.stdout + p.stderr
