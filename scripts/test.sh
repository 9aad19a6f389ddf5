#!/usr/bin/env bash
# Set up (system packages, venv, npm) and run the whole test suite, PostgreSQL included.
# `--fast`: the fast tier instead (unit, contract and the quick integration tests, ruff and mypy
# included; no PostgreSQL, Chromium or slow tests): under two minutes. Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
args=()
for a in "$@"; do
  if [ "$a" = --fast ]; then fast=1; else args+=("$a"); fi
done
bash scripts/setup.sh
# Two pytest workers (pytest-xdist; each on its own PostgreSQL database, tests/conftest.py), files kept
# whole on one worker; HALL_TEST_WORKERS=0 runs everything in this process.
workers=${HALL_TEST_WORKERS:-2}
xdist=()
if [ "$workers" != 0 ]; then xdist=(-n "$workers" --dist loadfile); fi
if [ "$fast" = 1 ]; then
  exec .venv/bin/python -m pytest -p no:cacheprovider ${xdist[@]+"${xdist[@]}"} \
    -m "not slow and not browser and not postgres" tests/unit tests/contract tests/integration ${args[@]+"${args[@]}"}
fi
if [ -z "${HALL_TEST_PG_URL:-}" ] && [ "$(id -u)" = 0 ]; then
  HALL_TEST_PG_URL=$(bash scripts/postgres.sh | tail -1)
  export HALL_TEST_PG_URL
fi
# Everything but the CPU-heavy load tests on the workers, then those alone (marker `serial`): they
# run many processes each and would only slow the rest down. A part with nothing selected (pytest's
# exit code 5) is not a failure unless both are empty; failures in the first part still let the
# second run, an interrupt or a usage error does not. Given `-m`, one run (the selection is yours).
for a in ${args[@]+"${args[@]}"}; do
  case "$a" in -m|-m*) exec .venv/bin/python -m pytest -p no:cacheprovider ${xdist[@]+"${xdist[@]}"} "${args[@]}";; esac
done
set +e
.venv/bin/python -m pytest -p no:cacheprovider ${xdist[@]+"${xdist[@]}"} -m "not serial" --durations=15 \
  ${args[@]+"${args[@]}"}
first=$?
if [ "$first" != 0 ] && [ "$first" != 1 ] && [ "$first" != 5 ]; then exit "$first"; fi
.venv/bin/python -m pytest -p no:cacheprovider -m serial --durations=10 ${args[@]+"${args[@]}"}
second=$?
set -e
if [ "$first" = 5 ] && [ "$second" = 5 ]; then exit 5; fi
for rc in "$first" "$second"; do
  if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then exit "$rc"; fi
done
exit 0
