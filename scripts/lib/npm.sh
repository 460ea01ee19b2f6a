#!/usr/bin/env bash
# Installs the npm packages package-lock.json pins into node_modules (`npm ci`); a no-op when nothing
# changed. Safe to run from several processes at once (the tests call it too, through testkit::tools).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f package-lock.json ] || exit 0
# The lock lives beside node_modules, not in it: `npm ci` empties node_modules.
exec 9>.npm-ci.lock
flock 9
stamp=node_modules/.installed-from
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
