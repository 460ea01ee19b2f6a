#!/usr/bin/env bash
# Creates .venv and installs requirements-dev.txt into it; a no-op when nothing changed. Safe to run from
# several processes at once (the tests call it too, through testkit::tools): one install at a time (flock).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .venv
exec 9>.venv/.lock
flock 9
stamp=.venv/.installed-from
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s requirements-dev.txt "$stamp"; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt "$stamp"
fi
