#!/usr/bin/env bash
# The README's test command: installs what the suite needs, then runs all of it.
# Debian's chromium drives the browser tests (Playwright's own browser download
# does not work offline) and Debian's nginx fronts the two-process deploy test;
# under CI=true both tests must run, not skip.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing Debian's ${missing[*]} for the browser and deploy tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  for tool in "${missing[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
      echo "tests/run.sh: apt-get installed $tool but it is not on PATH or in /usr/sbin" >&2; exit 1; }
  done
fi

echo "== installing Python requirements"
python3 -m pip install -q -r tests/requirements.txt

echo "== running the tests"
python3 -m pytest tests -ra "$@"
