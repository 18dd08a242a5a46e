#!/usr/bin/env bash
# The README's test command: installs what the suite needs, then runs all of it.
# Debian's chromium drives the browser test (Playwright's own browser download
# does not work offline); under CI=true the browser test must run, not skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "== installing Debian's chromium for the browser test"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== installing Python requirements"
python3 -m pip install -q -r tests/requirements.txt

echo "== running the tests"
python3 -m pytest tests -ra "$@"
