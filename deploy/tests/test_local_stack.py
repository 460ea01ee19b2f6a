"""compose.yaml, the provisioned Grafana dashboard and the example events, checked without a Docker engine."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

import serverless_tool

DASHBOARD = Path("deploy/grafana/dashboards/aws-rust-http-api.json")
PROVISIONING = Path("deploy/grafana/provisioning/dashboards.yaml")
EVENTS = Path("deploy/events")


@pytest.fixture(scope="module")
def compose(repo) -> dict:
    return yaml.safe_load((repo / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dashboard(repo) -> dict:
    return json.loads((repo / DASHBOARD).read_text())


# --- compose.yaml ----------------------------------------------------------------------------------------------------


def test_services(compose):
    assert set(compose["services"]) == {"api", "s3", "s3-init", "lgtm"}


def test_every_image_is_pinned_to_a_version(compose):
    for name, service in compose["services"].items():
        if "image" in service and "build" not in service:
            image = service["image"]
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*(@sha256:[0-9a-f]{64})?", image), f"{name}: {image} not pinned"


def test_api_is_this_repository_under_the_emulator(compose):
    api = compose["services"]["api"]
    assert api["build"]["context"] == "."
    assert api.get("build", {}).get("dockerfile", "Dockerfile") == "Dockerfile"
    assert "127.0.0.1:9000:8080" in api["ports"], "the Runtime Interface Emulator listens on 8080"


def test_api_reaches_the_emulators_by_service_name(compose):
    env = compose["services"]["api"]["environment"]
    assert env["AWS_ENDPOINT_URL_S3"] == "http://s3:5000"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://lgtm:4318"
    assert env["OTEL_SIDECAR_CONFIG"] == "/opt/otel-config.yaml"
    assert "OTEL_SIDECAR_ENDPOINT" not in env, "the function's default (the sidecar on 127.0.0.1:4318) is right"


def test_start_order(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert condition["condition"] in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
    assert services["api"]["depends_on"]["s3-init"]["condition"] == "service_completed_successfully"


def test_ports_listen_on_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} would listen on every interface"


def test_dashboard_is_mounted_where_the_provider_reads_it(repo, compose):
    mounts = {}
    for volume in compose["services"]["lgtm"]["volumes"]:
        source, target, *_ = volume.split(":")
        mounts[target] = source
    provider_file = next(t for t, s in mounts.items() if Path(s) == Path("./") / PROVISIONING)
    assert PurePosixPath(provider_file).parent == PurePosixPath("/otel-lgtm/grafana/conf/provisioning/dashboards")
    (provider,) = yaml.safe_load((repo / PROVISIONING).read_text())["providers"]
    assert provider["type"] == "file"
    dashboards_dir = mounts[provider["options"]["path"]]
    assert (repo / dashboards_dir / DASHBOARD.name).is_file()


# --- the dashboard ---------------------------------------------------------------------------------------------------


def exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if "expr" in t]


def test_dashboard_has_a_panel_for_each_question(dashboard):
    titles = {p["title"] for p in dashboard["panels"] if p["type"] != "row"}
    for wanted in (
        "Invocations",
        "Errors",
        "Cold starts",
        "Duration percentiles",
        "Init duration percentiles",
        "Memory",
        "S3 latency",
        "Recent traces",
    ):
        assert wanted in titles, wanted
    assert any("Traces" in link["title"] for link in dashboard["links"]), "a link to the traces"


def test_dashboard_panels_do_not_overlap(dashboard):
    cells = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel at {(x, y)}"
                cells.add((x, y))
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_data_sources_are_variables(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["prometheus"]["type"] == "datasource" and variables["tempo"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in ("${prometheus}", "${tempo}"), panel["title"]


def test_dashboard_queries_are_balanced_and_scoped_to_the_service(dashboard):
    for expr in exprs(dashboard):
        for open_, close in ("()", "{}", "[]"):
            assert expr.count(open_) == expr.count(close), expr
        assert '$service"' in expr, f"not scoped to the service: {expr}"


def test_dashboard_metric_names_follow_the_prometheus_translation_of_what_the_function_emits(repo, dashboard):
    """The function's instruments (handler/src/telemetry/metrics.rs), named as Prometheus' OTLP receiver names them."""
    source = (repo / "handler/src/telemetry/metrics.rs").read_text()
    translated = {
        "HTTP_SERVER_REQUEST_DURATION": "http_server_request_duration_seconds",
        "RPC_CLIENT_CALL_DURATION": "rpc_client_call_duration_seconds",
    }
    used = " ".join(exprs(dashboard))
    for constant, prometheus_name in translated.items():
        assert constant in source, f"the function no longer records {constant}: update the dashboard"
        assert prometheus_name in used, prometheus_name


def test_dashboard_sidecar_metric_names_match_what_the_sidecar_emits(repo, dashboard):
    """otel_sidecar.* (extension/src/pipeline/stats.rs: counters in {item}, histograms in ms), as Prometheus names them."""
    source = (repo / "extension/src/pipeline/stats.rs").read_text()
    emitted = {name.replace(".", "_") for name in re.findall(r'"(otel_sidecar\.[a-z_.]+)"', source)}
    used = set(re.findall(r"\botel_sidecar_[a-z_]+", " ".join(exprs(dashboard))))
    assert used, "the dashboard shows the sidecar's own health"
    for prometheus_name in used:
        base = re.sub(r"(_milliseconds_bucket|_total)$", "", prometheus_name)
        assert base in emitted, f"{prometheus_name}: the sidecar emits no such metric ({sorted(emitted)})"


def test_dashboard_lambda_metric_names_match_what_the_sidecar_derives_from_the_telemetry_api(repo, dashboard):
    """faas.* and aws.lambda.* (extension/src/telemetry/metrics.rs), as Prometheus names them (unit suffixes)."""
    source = (repo / "extension/src/telemetry/metrics.rs").read_text()
    emitted = {name.replace(".", "_") for name in re.findall(r'"((?:faas|aws\.lambda)\.[a-z_.]+)"', source)}
    used = set(re.findall(r"\b(?:faas|aws_lambda)_[a-z_]+", " ".join(exprs(dashboard))))
    assert {"faas_coldstarts_total", "faas_init_duration_seconds_bucket", "faas_mem_usage_bytes_bucket"} <= used
    for prometheus_name in used:
        base = re.sub(r"_(seconds|bytes)_(bucket|sum|count)$|_total$", "", prometheus_name)
        assert base in emitted, f"{prometheus_name}: the sidecar emits no such metric ({sorted(emitted)})"


# --- example events --------------------------------------------------------------------------------------------------


def test_one_example_event_per_route(repo):
    config = serverless_tool.print_config(repo)
    (function,) = config["functions"].values()
    routes = {f"{e['httpApi']['method']} {e['httpApi']['path']}" for e in function["events"]}
    events = {}
    for path in sorted((repo / EVENTS).glob("*.json")):
        event = json.loads(path.read_text())
        events[event["routeKey"]] = (path.name, event)
    assert set(events) == routes


@pytest.mark.parametrize("name", ["get-root.json", "get-private.json"])
def test_example_events_are_http_api_payload_v2(repo, name):
    event = json.loads((repo / EVENTS / name).read_text())
    assert event["version"] == "2.0"
    method, path = event["routeKey"].split(" ", 1)
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], event["rawPath"]) == (method, path, path)
    assert event["requestContext"]["routeKey"] == event["routeKey"]
    iam = event["requestContext"].get("authorizer", {}).get("iam")
    if path == "/private":
        # What API Gateway adds once AWS_IAM has verified a Cognito Identity Pool caller.
        assert iam["cognitoIdentity"]["amr"][0] == "authenticated"
        assert iam["userArn"].startswith("arn:aws:sts::")
    else:
        assert iam is None
