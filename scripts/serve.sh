#!/usr/bin/env bash
# Command 1: set everything up and run the gateway on the embedded default
# (SQLite catalog + local encrypted blob folder under ./var, config conf/gateway.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export LUMANOX_CONFIG="${LUMANOX_CONFIG:-conf/gateway.toml}"
.venv/bin/lumanox-gateway init --demo
exec .venv/bin/lumanox-gateway serve
