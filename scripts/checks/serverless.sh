#!/usr/bin/env bash
# serverless.yml: `osls print` on the real file (strict schema validation), `osls package` on a copy whose image is
# given by `uri` (the `path` form needs a registry push), then on the generated CloudFormation: the security facts
# (deploy/tests/test_template_security.py) and cfn-lint + cfn-lint-serverless with every finding explained
# (deploy/tests/test_cfn_lint.py, deploy/cfn-lint-explained.yaml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH" PYTHONDONTWRITEBYTECODE=1
python -m pytest -q -p no:cacheprovider \
  deploy/tests/test_serverless_config.py \
  deploy/tests/test_template_security.py \
  deploy/tests/test_cfn_lint.py
