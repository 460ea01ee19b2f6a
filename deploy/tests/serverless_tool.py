"""Runs `osls` (the open-source, v3-compatible Serverless Framework) offline on serverless.yml.

`osls print` works on the real file. `osls package` cannot: an image given by `path` is built and pushed to ECR
first. `uri_variant` rewrites only the image definition to a fixed ECR digest, byte for byte everything else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

# A syntactically valid, obviously fake image digest (account 123456789012 is AWS's documentation account).
FAKE_IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aws-rust-http-api@sha256:" + "0" * 64

# Keep osls quiet and offline: no telemetry, no update or notification checks.
_QUIET_ENV = {"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": ""}


class OslsError(RuntimeError):
    """osls exited non-zero; the message carries its output."""


def osls_path() -> str:
    found = shutil.which("osls")
    if found is None:
        raise OslsError("osls not on PATH: run `npm ci` and put node_modules/.bin on PATH (./scripts/test does)")
    return found


def run_osls(args: list[str], cwd: Path) -> str:
    """Runs `osls ARGS` in `cwd` and returns its stdout; raises OslsError on failure."""
    env = {**os.environ, **_QUIET_ENV}
    # No AWS account here: make sure nothing picks up real credentials or profiles by accident.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(key, None)
    done = subprocess.run(
        [osls_path(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise OslsError(f"osls {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def print_config(repo: Path, *extra: str) -> dict:
    """`osls print --format json` on the real serverless.yml: resolved and validated (configValidationMode)."""
    return json.loads(run_osls(["print", "--format", "json", *extra], cwd=repo))


def uri_variant(text: str, uri: str = FAKE_IMAGE_URI) -> str:
    """serverless.yml with `provider.ecr.images.<name>` replaced by `{ uri: ... }` (every image), nothing else."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    replaced = 0
    images_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if stripped == "images:":
            images_indent = indent
            out.append(line)
            i += 1
            continue
        if images_indent is not None and stripped and not stripped.startswith("#") and indent <= images_indent:
            images_indent = None
        match = re.fullmatch(r"([a-z][a-z0-9-_]{1,31}):", stripped)
        if images_indent is not None and match and indent > images_indent:
            out.append(line)
            out.append(" " * (indent + 2) + f"uri: {uri}\n")
            replaced += 1
            i += 1
            # drop the image's own (deeper-indented) lines: path, file, platform, provenance, comments
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip(" ")) > indent):
                i += 1
            continue
        out.append(line)
        i += 1
    if replaced == 0:
        raise ValueError("no image under provider.ecr.images to rewrite")
    return "".join(out)


def package(repo: Path, workdir: Path, stage: str, params: dict[str, str] | None = None) -> dict:
    """`osls package` on the uri variant of serverless.yml; returns the CloudFormation template it generates."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "serverless.yml").write_text(uri_variant((repo / "serverless.yml").read_text()))
    args = ["package", "--stage", stage]
    for key, value in (params or {}).items():
        args += ["--param", f"{key}={value}"]
    run_osls(args, cwd=workdir)
    return json.loads((workdir / ".serverless" / "cloudformation-template-update-stack.json").read_text())
