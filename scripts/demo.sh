#!/usr/bin/env bash
# Set up and run the demo: one hall on SQLite, the seeded catalog, demo staff and devices.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hall-server demo --host "${HALL_HOST:-127.0.0.1}" --port "${HALL_PORT:-8080}" "$@"
