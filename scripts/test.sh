#!/usr/bin/env bash
# Set up (system packages, venv, npm) and run the whole test suite, PostgreSQL included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HALL_TEST_PG_URL:-}" ] && [ "$(id -u)" = 0 ]; then
  HALL_TEST_PG_URL=$(bash scripts/postgres.sh | tail -1)
  export HALL_TEST_PG_URL
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
