"""A command's own peak RSS, for the memory-budget tests.

``ru_maxrss`` of a process the test process forks starts at the test process's own size
(the forked copy, and exec keeps the high-water mark), and after a long test session
pytest is larger than the budgets. So a small launcher forks the command and reports its
``wait4`` rusage: the command then starts from the launcher's few MiB.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\n@peak_rss_kib={usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""
_MARK = re.compile(r"\n@peak_rss_kib=(\d+)\n\Z")


def run_measured(argv: list[str], env: dict[str, str], cwd: Path | None = None,
                 timeout: float = 300) -> tuple[int, int, str]:
    """Run ``argv``: (exit code, its peak RSS in bytes, its stderr)."""
    p = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], env=env, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
                       check=False)
    err = p.stderr.decode("utf-8", "replace")
    found = _MARK.search(err)
    assert found is not None, f"the launcher did not report: {err[-500:]}"
    return p.returncode, int(found[1]) * 1024, err[:found.start()]
