"""The import-linter contracts of pyproject.toml hold, and they bite.

``scripts/test.sh`` runs ``lint-imports`` after ruff; this test proves a leak is caught:
it copies the package to a temporary folder, injects one forbidden import into a copy of a
front-end or storage module, and expects ``lint-imports`` (with the project's own
contracts) to fail naming the contract. The real tree must pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists() and not os.environ.get("CI"),
                                reason="lint-imports is not installed (test extra)")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's configuration over the package in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), str(ROOT / "pyproject.toml"),
                           "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    shutil.copytree(ROOT / "gateway", tmp_path / "gateway",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "gateway" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("sftp/handler.py", "from gateway.catalog import namespace  # noqa", "sftp is sealed"),
    ("sftp/connection.py", "from gateway.audit import AuditEvent  # noqa", "sftp is sealed"),
    ("sftp/auth.py", "import sqlalchemy  # noqa", "sftp is sealed"),
    ("webdav/locks.py", "from gateway.catalog import locks  # noqa", "webdav is sealed"),
    ("webdav/app.py", "from gateway.core import Core  # noqa", "webdav is sealed"),
    ("catalog/namespace.py", "import gateway.policy.gate  # noqa", "storage knows nothing"),
    ("access.py", "import gateway.sftp.handler  # noqa", "layers"),
    ("audit.py", "import gateway.metrics.families  # noqa", "the core knows nothing of metrics"),
])
def test_an_injected_leak_fails_the_lint(tmp_path: Path, module: str, line: str,
                                         contract: str) -> None:
    result = _lint(_copy_with(tmp_path, module, line))
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
