#!/usr/bin/env bash
# Set up (system packages, venv, npm) and run the whole test suite, PostgreSQL included.
# `--fast`: the fast tier instead (unit, contract and the quick integration tests, ruff and mypy
# included; no PostgreSQL, Chromium or slow tests): a couple of minutes. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
args=()
for a in "$@"; do
  if [ "$a" = --fast ]; then fast=1; else args+=("$a"); fi
done
bash scripts/setup.sh
if [ "$fast" = 1 ]; then
  exec .venv/bin/python -m pytest -p no:cacheprovider -m "not slow and not browser and not postgres" \
    tests/unit tests/contract tests/integration ${args[@]+"${args[@]}"}
fi
if [ -z "${HALL_TEST_PG_URL:-}" ] && [ "$(id -u)" = 0 ]; then
  HALL_TEST_PG_URL=$(bash scripts/postgres.sh | tail -1)
  export HALL_TEST_PG_URL
fi
exec .venv/bin/python -m pytest -p no:cacheprovider ${args[@]+"${args[@]}"}
