#!/usr/bin/env bash
# compose.yaml, the provisioned Grafana dashboard and the example events (deploy/tests/test_local_stack.py), and
# the example events answered by the real release `bootstrap` through the Runtime API (test_example_events.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH" PYTHONDONTWRITEBYTECODE=1
python -m pytest -q -p no:cacheprovider deploy/tests/test_local_stack.py deploy/tests/test_example_events.py
