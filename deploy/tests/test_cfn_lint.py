"""cfn-lint (with the cfn-lint-serverless rules) on the packaged template: no error, every other finding explained."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

STAGES = ["dev", "prod"]


def lint(template: dict, workdir: Path) -> list[dict]:
    cfn_lint = shutil.which("cfn-lint")
    assert cfn_lint, "cfn-lint not on PATH: it is installed into .venv from requirements-dev.txt"
    path = workdir / "template.json"
    path.write_text(json.dumps(template, indent=2))
    done = subprocess.run(
        [cfn_lint, "--format", "json", "--include-checks", "I", "-a", "cfn_lint_serverless.rules", "-t", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit code is a bitmask: 2 error, 4 warning, 8 informational; 1 means cfn-lint itself failed.
    assert done.returncode & 1 == 0 and done.stdout.strip().startswith("["), done.stdout + done.stderr
    return json.loads(done.stdout)


def where(finding: dict) -> str:
    return "/".join(str(p) for p in finding["Location"]["Path"])


def describe(finding: dict) -> str:
    return f"{finding['Rule']['Id']} at {where(finding)}: {finding['Message']}"


@pytest.fixture(scope="module")
def explained(repo) -> list[dict]:
    entries = yaml.safe_load((repo / "deploy" / "cfn-lint-explained.yaml").read_text())
    for entry in entries:
        assert set(entry) == {"rule", "where", "why"} and entry["why"].strip(), entry
        assert not entry["rule"].startswith(("E", "ES")), f"errors cannot be explained away: {entry}"
    return entries


def matches(entry: dict, finding: dict) -> bool:
    path = where(finding)
    return finding["Rule"]["Id"] == entry["rule"] and (path == entry["where"] or path.startswith(entry["where"] + "/"))


@pytest.mark.parametrize("stage", STAGES)
def test_no_error_and_every_finding_explained(stage, package_template, tmp_path, explained):
    findings = lint(package_template(stage), tmp_path)
    errors = [describe(f) for f in findings if f["Level"] == "Error"]
    assert errors == []
    unexplained = [describe(f) for f in findings if not any(matches(e, f) for e in explained)]
    assert unexplained == [], "fix these in serverless.yml, or explain them in deploy/cfn-lint-explained.yaml"
    stale = [e for e in explained if not any(matches(e, f) for f in findings)]
    assert stale == [], "these explanations no longer match a finding: remove them"


def test_cfn_lint_serverless_rules_are_loaded(tmp_path):
    """Guards against the plugin silently not loading: a bare function must trip its rules."""
    bare = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Role": "arn:aws:iam::123456789012:role/r",
                    "PackageType": "Image",
                    "Code": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x@sha256:" + "0" * 64},
                },
            }
        }
    }
    rules = {f["Rule"]["Id"] for f in lint(bare, tmp_path)}
    assert "WS1000" in rules, rules
