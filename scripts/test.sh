#!/usr/bin/env bash
# Command 2: set everything up and run the whole test suite (lint + tests).
# Extra arguments go to pytest, e.g. scripts/test.sh -k webdav
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-system-deps.sh
scripts/bootstrap.sh test
export PATH="$PATH:/usr/sbin:/sbin"

# PostgreSQL: the suite runs every core test on it too. Start the local cluster if it is
# installed but down (CI machines start it already; elsewhere it is a visible skip).
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
fi

.venv/bin/ruff check .
.venv/bin/lint-imports  # architecture contracts: [tool.importlinter] in pyproject.toml
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$code"
