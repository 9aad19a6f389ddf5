#!/usr/bin/env bash
# Set up and run the demo: one hall on SQLite, the seeded catalog, demo staff and devices, every
# window open. Arguments go to `hall-server demo` (--live, --speed N, --host, --port, --data-dir);
# HALL_HOST, HALL_PORT and HALL_PUBLIC_URL are read from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hall-server demo "$@"
