"""The example events in deploy/events/ give the answers docs/deploy.md promises, from the real release `bootstrap`:
served through the Lambda Runtime API (as the emulator in the image does), listing buckets of a moto S3 server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from runtime_api import RuntimeApi

BUCKETS = ["course-uploads", "course-thumbnails"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    moto = shutil.which("moto_server")
    assert moto, "moto_server not on PATH: it is installed into .venv from requirements-dev.txt"
    port = free_port()
    process = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # up to ~20 s on a loaded machine
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        for name in BUCKETS:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{name}", method="PUT"), timeout=5).close()
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def answers(repo, s3_endpoint) -> dict[str, dict]:
    """Each example event, sent to the real function; its API Gateway v2 response, by file name."""
    release_dir = Path(os.environ.get("AWS_RUST_HTTP_API_RELEASE_DIR", repo / "target" / "release"))
    bootstrap = release_dir / "bootstrap"
    assert bootstrap.is_file(), f"{bootstrap} not built (./scripts/test builds it)"
    names = sorted(p.name for p in (repo / "deploy/events").glob("*.json"))
    events = [json.loads((repo / "deploy/events" / n).read_text()) for n in names]
    arn = "arn:aws:lambda:us-east-1:123456789012:function:aws-rust-http-api-local-api"
    with RuntimeApi(events, arn) as api:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "aws-rust-http-api-local-api",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/aws-rust-http-api-local-api",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]0123456789abcdef",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_ENDPOINT_URL_S3": s3_endpoint,
            "OTEL_SDK_DISABLED": "true",  # no sidecar in this test
            "RUST_LOG": "warn",
        }
        process = subprocess.Popen([str(bootstrap)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            results = {}
            for name, request_id in zip(names, api.ids):
                kind, body = api.result(request_id, timeout=60)
                assert kind == "response", f"{name}: the function reported an error: {body!r}"
                results[name] = json.loads(body)
            assert api.init_error is None, api.init_error
            return results
        finally:
            process.kill()
            output = process.communicate(timeout=10)[0].decode(errors="replace")
            print(output[-4000:])


def body_of(response: dict) -> dict:
    assert response["statusCode"] == 200, response
    assert not response.get("isBase64Encoded"), response
    return json.loads(response["body"])


def test_root_event_lists_the_buckets(answers):
    body = body_of(answers["get-root.json"])
    assert sorted(body["buckets"]) == sorted(BUCKETS)


def test_private_event_lists_the_buckets_and_names_the_cognito_caller(answers):
    body = body_of(answers["get-private.json"])
    assert sorted(body["buckets"]) == sorted(BUCKETS)
    text = json.dumps(body)
    assert "us-east-1:00000000-0000-4000-8000-00000000000a" in text, "the caller's Cognito identity id"
    assert "ASIAEXAMPLELOCAL0001" not in text, "the access key id must not be echoed"
