"""Shared fixtures: the repository root and CloudFormation templates packaged from serverless.yml (cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

import serverless_tool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def package_template(tmp_path_factory):
    """`package_template(stage, **params)`: the template `osls package` generates; each combination built once."""
    cache: dict[tuple, dict] = {}

    def build(stage: str = "dev", **params: str) -> dict:
        key = (stage, tuple(sorted(params.items())))
        if key not in cache:
            workdir = tmp_path_factory.mktemp(f"package-{stage}")
            cache[key] = serverless_tool.package(REPO, workdir, stage, params)
        return cache[key]

    return build
