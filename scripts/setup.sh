#!/usr/bin/env bash
# Set up everything the hall system needs on a fresh Debian machine: system packages (as root),
# a virtualenv with the project and its test extras, and the npm front-end files. Idempotent, and
# quiet and quick when everything is there: no apt-get, no npm, no pip (one import check).
# It says what it installs ("setup: installing ...") and nothing else but "setup: ready".
set -euo pipefail
cd "$(dirname "$0")/.."

# Each check captures a command's output first and then matches it: `cmd | grep -q x` under
# pipefail fails when grep stops reading early and cmd dies of SIGPIPE, which made installed
# packages look missing (apt-get on every run as root, a false warning otherwise).
need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have espeak-ng || need_apt+=(espeak-ng)
have sox || need_apt+=(sox)
have chromium || need_apt+=(chromium)
have redis-server || need_apt+=(redis-server)
have nginx || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
have zbarimg || need_apt+=(zbar-tools)
[ -e /usr/lib/x86_64-linux-gnu/libzbar.so.0 ] || [ -e /usr/lib/aarch64-linux-gnu/libzbar.so.0 ] || need_apt+=(libzbar0)
have pg_ctlcluster || need_apt+=(postgresql)
have node || need_apt+=(nodejs)
have npm || need_apt+=(npm)
fonts=$(fc-list 2>/dev/null || true)
fonts=${fonts,,}
[[ $fonts == *amiri* ]] || need_apt+=(fonts-hosny-amiri)
[[ $fonts == *"noto naskh arabic"* ]] || need_apt+=(fonts-noto-core)
[[ $fonts == *"dejavu sans"* ]] || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages (run as root to install): ${need_apt[*]}" >&2
  fi
fi

# pip runs only when the virtualenv is new, when setup.cfg or pyproject.toml changed since the last
# install (the stamp holds their hash and the interpreter's version), or when an import fails.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating the virtualenv .venv"
  "$PY" -m venv .venv
  new_venv=1
else
  new_venv=0
fi
stamp=.venv/.hall-setup-stamp
want=$( { cat setup.cfg pyproject.toml; .venv/bin/python -c 'import sys; print(sys.version)'; } | sha256sum)
want=${want%% *}
modules="flask_socketio sqlalchemy escpos pyttsx3 playwright pyzbar hall_server"
# found without importing them (importing takes a second): enough to notice an uninstalled package
present="import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))"
pip_quiet() {  # pip, its output shown only when it fails
  local out
  if ! out=$(.venv/bin/python -m pip "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "setup: pip $* failed" >&2
    exit 1
  fi
}
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || ! .venv/bin/python -c "$present" $modules 2>/dev/null; then
  echo "setup: installing the project and its test extras into .venv (pip install -e .[test])"
  rm -f "$stamp"
  if [ "$new_venv" = 1 ]; then pip_quiet install -q --upgrade pip; fi
  pip_quiet install -q -e ".[test]"
  .venv/bin/python -c "import ${modules// /, }" || { echo "setup: python packages missing after pip install" >&2; exit 1; }
  printf '%s\n' "$want" >"$stamp"
fi

# npm runs when a package of package.json is missing from node_modules, or package-lock.json changed
# after the last install (npm writes node_modules/.package-lock.json on every install).
npm_missing=$(.venv/bin/python -c 'import json, os
deps = json.load(open("package.json")).get("dependencies", {})
print(" ".join(d for d in deps if not os.path.isdir(os.path.join("node_modules", d))))')
if [ -n "$npm_missing" ] || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo "setup: installing the browser files (npm)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi
fi
echo "setup: ready"
