"""serverless.yml itself, as the framework resolves it (`osls print`, strict schema validation)."""

from __future__ import annotations

import pytest

import serverless_tool


@pytest.fixture(scope="module")
def config(repo) -> dict:
    return serverless_tool.print_config(repo)


def test_schema_validation_is_strict_and_the_file_passes_it(config):
    # configValidationMode: error turns any unknown or mistyped key into a failure of `osls print` itself.
    assert config["configValidationMode"] == "error"


def test_service_and_framework_version(config):
    assert config["service"] == "aws-rust-http-api"
    assert config["frameworkVersion"] == "4"


def test_stage_defaults_to_dev_and_follows_the_stage_option(repo, config):
    assert config["provider"]["stage"] == "dev"
    prod = serverless_tool.print_config(repo, "--stage", "prod")
    assert prod["provider"]["stage"] == "prod"
    assert prod["resources"]["Resources"]["CognitoUserPool"]["Properties"]["UserPoolName"] == "aws-rust-http-api-prod"


def test_profile_follows_the_aws_profile_option(repo, config):
    assert config["provider"]["profile"] == "default"
    assert serverless_tool.print_config(repo, "--aws-profile", "production")["provider"]["profile"] == "production"


def test_image_is_built_from_this_repository_for_arm64(config):
    images = config["provider"]["ecr"]["images"]
    assert list(images) == ["app"]
    assert images["app"]["path"] == "./"
    assert images["app"]["platform"] == "linux/arm64"
    # BuildKit's default attestations make an image index that Lambda refuses.
    assert images["app"]["provenance"] == "false"
    assert config["provider"]["architecture"] == "arm64"


def test_function_runs_the_image_with_deliberate_limits(config):
    (function,) = config["functions"].values()
    assert function["image"] == {"name": "app"}
    assert "handler" not in function and "runtime" not in function
    provider = config["provider"]
    assert provider["memorySize"] == 256
    assert provider["timeout"] == 10 and provider["timeout"] < 30  # below the HTTP API integration limit
    assert provider["logRetentionInDays"] == 14


def test_sidecar_settings_come_from_stage_parameters(config):
    (function,) = config["functions"].values()
    environment = function["environment"]
    assert environment["OTEL_SIDECAR_CONFIG"] == "/opt/otel-config.yaml"
    # Defaults are empty (no exporter); real values are per-stage params or dynamic references, never literals here.
    assert config["params"]["default"]["otlpEndpoint"] == ""
    assert config["params"]["default"]["otlpHeaders"] == ""
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    assert environment["OTEL_EXPORTER_OTLP_HEADERS"] == ""


def test_http_events(config):
    (function,) = config["functions"].values()
    events = [e["httpApi"] for e in function["events"]]
    assert {"method": "GET", "path": "/"} in events
    assert {"method": "GET", "path": "/private", "authorizer": {"type": "aws_iam"}} in events
    assert len(events) == 2


def test_uri_variant_changes_only_the_image(repo):
    original = (repo / "serverless.yml").read_text()
    variant = serverless_tool.uri_variant(original)
    removed = [line for line in original.splitlines() if line not in variant.splitlines()]
    added = [line for line in variant.splitlines() if line not in original.splitlines()]
    assert added == [f"        uri: {serverless_tool.FAKE_IMAGE_URI}"]
    assert all(key in "\n".join(removed) for key in ("path:", "platform:", "provenance:"))
    assert not any(line.strip() and not line.strip().startswith(("path:", "file:", "platform:", "provenance:", "#")) for line in removed), removed
