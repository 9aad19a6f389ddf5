#!/usr/bin/env bash
# Set up everything the hall system needs on a fresh Debian machine: system packages (as root),
# a virtualenv with the project and its test extras, and the npm front-end files. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v sox >/dev/null || need_apt+=(sox)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v zbarimg >/dev/null || need_apt+=(zbar-tools)
[ -e /usr/lib/x86_64-linux-gnu/libzbar.so.0 ] || [ -e /usr/lib/aarch64-linux-gnu/libzbar.so.0 ] || need_apt+=(libzbar0)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v node >/dev/null || need_apt+=(nodejs npm)
fc-list 2>/dev/null | grep -qi amiri || need_apt+=(fonts-hosny-amiri)
fc-list 2>/dev/null | grep -qi "Noto Naskh Arabic" || need_apt+=(fonts-noto-core)
fc-list 2>/dev/null | grep -qi "DejaVu Sans" || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages (run as root to install): ${need_apt[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import flask_socketio, sqlalchemy, escpos, pyttsx3, playwright, pyzbar" \
  || { echo "setup: python packages missing after pip install" >&2; exit 1; }

if [ ! -d node_modules/socket.io-client ] || [ ! -d node_modules/chart.js ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi
fi
echo "setup: ready"
