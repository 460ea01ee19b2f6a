"""The Docker build context, computed with docker-py's own .dockerignore matcher: everything the workspace needs to
resolve and build, nothing of the local build output, tool installs or version control."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

# never anywhere in the context / never at its root
NEVER_ANYWHERE = {"target", "node_modules", ".git", ".serverless", "__pycache__"}
NEVER_AT_ROOT = {".venv", ".ci", "scripts", "deploy", "docs"}
MAX_CONTEXT_BYTES = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def context(repo) -> set[str]:
    lines = (repo / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return {p for p in exclude_paths(str(repo), patterns) if (repo / p).is_file()}


@pytest.fixture(scope="module")
def members(repo) -> list[Path]:
    done = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    metadata = json.loads(done.stdout)
    ids = set(metadata["workspace_members"])
    return [Path(p["manifest_path"]).parent for p in metadata["packages"] if p["id"] in ids]


def test_workspace_root_files_are_in_the_context(context):
    for path in ("Cargo.toml", "Cargo.lock", "otel-config.yaml"):
        assert path in context, f"{path} is excluded by .dockerignore (or missing)"


def test_every_workspace_member_is_in_the_context(repo, context, members):
    assert members, "cargo metadata listed no workspace member"
    for member in members:
        rel = member.relative_to(repo)
        assert str(rel / "Cargo.toml") in context, f"{rel}/Cargo.toml excluded: cargo could not load the workspace"
        sources = [p for p in member.rglob("*") if p.is_file() and "target" not in p.relative_to(member).parts]
        missing = [str(p.relative_to(repo)) for p in sources if str(p.relative_to(repo)) not in context]
        assert missing == [], f"files of workspace member {rel} excluded from the build context"


def test_no_build_output_tools_or_vcs_in_the_context(context):
    leaked = sorted(p for p in context if set(Path(p).parts) & NEVER_ANYWHERE or Path(p).parts[0] in NEVER_AT_ROOT)
    assert leaked == [], leaked[:20]


def test_context_is_small(repo, context):
    size = sum((repo / p).stat().st_size for p in context)
    print(f"build context: {len(context)} files, {size / 1024:.0f} KiB")
    assert size < MAX_CONTEXT_BYTES
