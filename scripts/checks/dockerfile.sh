#!/usr/bin/env bash
# Dockerfile: hadolint (settings and ignored rules in .hadolint.yaml), then the final stage replayed on an empty
# directory with this checkout's release binaries (deploy/tests/test_dockerfile.py: the three files where Lambda
# looks for them, executable bits, nothing else), and the build context .dockerignore leaves
# (deploy/tests/test_dockerignore.py). No Docker engine needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" PYTHONDONTWRITEBYTECODE=1
hadolint --config .hadolint.yaml Dockerfile
echo "hadolint: Dockerfile clean"
python -m pytest -q -p no:cacheprovider deploy/tests/test_dockerfile.py deploy/tests/test_dockerignore.py
