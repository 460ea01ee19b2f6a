//! End to end: the release `bootstrap` binary as a real Lambda runtime under `lambda-env`,
//! S3 from moto, its OTLP output decoded with the official protobuf definitions.

mod common;

use common::{FUNCTION_NAME, Function, event, http_response};
use serde_json::{Value, json};
use sidecar_contract::INVOCATION_ID_ATTRIBUTE;
use std::time::{Duration, UNIX_EPOCH};
use testkit::otlp_view::{FlatSpan, metric_points, spans};
use testkit::{FakeOtlpBackend, Received};

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const BUCKETS: [&str; 5] = [
    "alpha-logs",
    "bravo-data",
    "charlie-web",
    "delta-backup",
    "echo-tmp",
];
const TRACEPARENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const TRACEPARENT_PARENT: &str = "b7ad6b7169203331";
const XRAY: &str = "Root=1-6745a1b2-3f1e2d3c4b5a69788796a5b4;Parent=1a2b3c4d5e6f7081;Sampled=0";

fn server_span(backend: &FakeOtlpBackend, request_id: &str) -> Option<FlatSpan> {
    spans(&backend.traces())
        .into_iter()
        .find(|s| s.kind == SERVER && s.attr_str(INVOCATION_ID_ATTRIBUTE) == Some(request_id))
}

/// The invocation's server span, once exported: the hand-off runs after the response was posted,
/// so an invocation's completion does not mean its span has arrived yet.
async fn exported_server_span(backend: &FakeOtlpBackend, request_id: &str) -> FlatSpan {
    backend
        .wait_until("the server span", Duration::from_secs(10), |b| {
            server_span(b, request_id).is_some()
        })
        .await
        .expect("server span exported");
    server_span(backend, request_id).expect("server span")
}

fn with_header(mut event: Value, name: &str, value: &str) -> Value {
    event["headers"][name] = json!(value);
    event
}

#[tokio::test]
async fn invocations_are_answered_traced_and_handed_off_before_next() {
    let function = Function::start(&BUCKETS, &[]).await;
    let events = [
        ("root", event("apigw_v2_root.json"), None),
        ("private", event("apigw_v2_private_cognito.json"), None),
        (
            "anonymous",
            event("apigw_v2_private_no_identity.json"),
            None,
        ),
        ("post", event("apigw_v2_post_root.json"), None),
        (
            "traceparent",
            with_header(
                event("apigw_v2_root.json"),
                "traceparent",
                &format!("00-{TRACEPARENT_TRACE}-{TRACEPARENT_PARENT}-01"),
            ),
            None,
        ),
        ("xray", event("apigw_v2_root.json"), Some(XRAY)),
        ("unknown", event("apigw_v2_unknown_path.json"), None),
    ];
    // All at once: the runtime takes each with `next` only when it is done with the previous one.
    let mut ids = Vec::new();
    for (name, payload, xray) in events {
        ids.push((name, function.enqueue(payload, xray).await));
    }
    let mut states = Vec::new();
    for (name, id) in &ids {
        states.push((*name, id.clone(), function.wait(id).await));
    }

    // Responses.
    let expected_buckets: Vec<&str> = BUCKETS.to_vec();
    let (status, body, headers) = http_response(&states[0].2);
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["buckets"], json!(expected_buckets));
    let (status, body, _) = http_response(&states[1].2);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["caller"]["cognitoIdentity"]["identityId"],
        "us-east-1:3f291106-8703-466b-8f2b-3ecee1ca56ce"
    );
    assert_eq!(body["buckets"], json!(expected_buckets));
    assert!(!body.to_string().contains("ASIAEXAMPLEKEYID1234"));
    let (status, body, _) = http_response(&states[2].2);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "MissingIamIdentity");
    assert_eq!(body["error"]["requestId"], states[2].1.as_str());
    let (status, _, headers) = http_response(&states[3].2);
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET");
    let (status, _, _) = http_response(&states[6].2);
    assert_eq!(status, 404);

    // Hand-off: every invocation's server span reached the backend before the runtime asked
    // for the next event (its next `next`), so a freeze could not have stranded it.
    let timed = function.backend.received_timed();
    for (name, id, state) in &states {
        let next_called = state
            .runtime_next_at
            .expect("the runtime called next again");
        let next_called = UNIX_EPOCH
            + Duration::from_nanos(next_called.timestamp_nanos_opt().expect("time") as u64);
        let arrived = timed
            .iter()
            .find(|(_, received)| match received {
                Received::Traces(t) => spans(std::slice::from_ref(t))
                    .iter()
                    .any(|s| s.attr_str(INVOCATION_ID_ATTRIBUTE) == Some(id.as_str())),
                _ => false,
            })
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("no span for invocation {name}"));
        assert!(
            arrived <= next_called,
            "{name}: spans arrived {:?} after the runtime asked for the next event",
            arrived.duration_since(next_called).unwrap_or_default()
        );
    }

    // The last hand-off has no next invocation to wait for: give it its moment.
    let backend = &function.backend;
    exported_server_span(backend, &states[states.len() - 1].1).await;

    // Server spans: semantic conventions, cold start only once.
    let root = server_span(backend, &states[0].1).expect("root span");
    assert_eq!(root.name, "GET /");
    assert_eq!(root.attr_str("faas.trigger"), Some("http"));
    assert_eq!(root.attributes["faas.coldstart"], json!(true));
    assert_eq!(root.attr_str("http.request.method"), Some("GET"));
    assert_eq!(root.attr_str("http.route"), Some("/"));
    assert_eq!(root.attr_str("url.path"), Some("/"));
    assert_eq!(root.attr_str("user_agent.original"), Some("curl/8.5.0"));
    assert_eq!(root.attributes["http.response.status_code"], json!(200));
    assert_eq!(root.resource["service.name"], json!(FUNCTION_NAME));
    assert_eq!(root.resource["cloud.provider"], json!("aws"));
    assert_eq!(root.resource["cloud.region"], json!("eu-west-1"));
    assert_eq!(root.resource["faas.name"], json!(FUNCTION_NAME));
    assert_eq!(root.resource["faas.version"], json!("7"));
    assert_eq!(root.resource["faas.max_memory"], json!(256 * 1024 * 1024));
    for (name, id, _) in &states[1..] {
        let span = server_span(backend, id).unwrap_or_else(|| panic!("{name} span"));
        assert_eq!(span.attributes["faas.coldstart"], json!(false), "{name}");
    }

    // S3 client spans: one per ListBuckets page (5 buckets, 2 a page), children of the server span.
    let all = spans(&backend.traces());
    let s3_calls: Vec<&FlatSpan> = all
        .iter()
        .filter(|s| s.kind == CLIENT && s.trace_id == root.trace_id)
        .collect();
    assert_eq!(s3_calls.len(), 3, "{s3_calls:#?}");
    for call in &s3_calls {
        assert_eq!(call.parent_span_id, root.span_id);
        assert_eq!(call.attr_str("rpc.system"), Some("aws-api"));
        assert_eq!(call.attr_str("rpc.service"), Some("S3"));
        assert_eq!(call.attr_str("rpc.method"), Some("ListBuckets"));
        assert!(
            call.attr_str("aws.request_id")
                .is_some_and(|id| !id.is_empty())
        );
        assert_eq!(call.status_code, 0);
    }

    // The protected route records who called.
    let private = server_span(backend, &states[1].1).expect("private span");
    assert_eq!(private.name, "GET /private");
    assert_eq!(
        private.attr_str("enduser.id"),
        Some("us-east-1:3f291106-8703-466b-8f2b-3ecee1ca56ce")
    );
    let anonymous = server_span(backend, &states[2].1).expect("403 span");
    assert_eq!(
        anonymous.attributes["http.response.status_code"],
        json!(403)
    );
    assert_eq!(anonymous.status_code, 0, "a 4xx is not a server error");

    // Trace context: W3C traceparent continued; X-Ray trace converted (even with Sampled=0).
    let continued = server_span(backend, &states[4].1).expect("traceparent span");
    assert_eq!(continued.trace_id, TRACEPARENT_TRACE);
    assert_eq!(continued.parent_span_id, TRACEPARENT_PARENT);
    let xray = server_span(backend, &states[5].1).expect("x-ray span");
    assert_eq!(xray.trace_id, "6745a1b23f1e2d3c4b5a69788796a5b4");
    assert_eq!(xray.parent_span_id, "1a2b3c4d5e6f7081");
    let fresh = server_span(backend, &states[0].1).expect("root");
    assert_ne!(fresh.trace_id, xray.trace_id);
    let unknown = server_span(backend, &states[6].1).expect("404 span");
    assert_eq!(unknown.name, "GET");
    assert!(!unknown.attributes.contains_key("http.route"));

    // Metrics.
    let points = metric_points(&backend.metrics());
    let durations: Vec<_> = points
        .iter()
        .filter(|p| p.name == "http.server.request.duration")
        .collect();
    assert!(
        durations
            .iter()
            .any(|p| p.attributes.get("http.route") == Some(&json!("/")) && p.count >= 1),
        "{durations:#?}"
    );
    assert!(durations.iter().all(|p| p.unit == "s"));
    assert!(
        points.iter().all(|p| !p.name.starts_with("faas.")),
        "faas.* metrics are the sidecar's (Telemetry API): the function must not double them"
    );
    assert!(points.iter().any(|p| p.name == "rpc.client.call.duration"
        && p.attributes.get("rpc.method") == Some(&json!("ListBuckets"))));
    assert!(
        points
            .iter()
            .any(|p| p.name == "app.s3.buckets.returned" && p.value >= 5.0)
    );

    // Logs: JSON lines with the request id.
    let lines = function.stdout();
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&states[2].1) && l.contains("request rejected")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn s3_failure_is_a_json_5xx_with_an_error_span() {
    let closed = testkit::moto::free_port().expect("port");
    let function = Function::start(
        &[],
        &[("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))],
    )
    .await;
    let id = function.enqueue(event("apigw_v2_root.json"), None).await;
    let state = function.wait(&id).await;
    let (status, body, _) = http_response(&state);
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "NetworkError");
    assert_eq!(body["error"]["requestId"], id.as_str());
    assert!(
        !body.to_string().contains("dispatch"),
        "no internals: {body}"
    );
    let span = exported_server_span(&function.backend, &id).await;
    assert_eq!(span.status_code, 2, "5xx is an error");
    let calls: Vec<FlatSpan> = spans(&function.backend.traces())
        .into_iter()
        .filter(|s| s.kind == CLIENT && s.trace_id == span.trace_id)
        .collect();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|c| c.status_code == 2));
    let errors: Vec<String> = function
        .stdout()
        .into_iter()
        .filter(|l| l.contains("S3 call failed"))
        .collect();
    assert_eq!(errors.len(), 1, "logged once with its cause");
    // The line carries the SERVER span's ids, which the sidecar puts on the OTLP log record.
    let line: serde_json::Value = serde_json::from_str(&errors[0]).expect("a JSON line");
    let invocation = line["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s.get("trace_id").is_some()))
        .unwrap_or_else(|| panic!("no span with ids in {line}"));
    assert_eq!(invocation["trace_id"], span.trace_id.as_str());
    assert_eq!(invocation["span_id"], span.span_id.as_str());
}

#[tokio::test]
async fn no_sidecar_listening_still_answers_and_reports_once() {
    let closed = testkit::moto::free_port().expect("port");
    let function = Function::start(
        &["only-bucket"],
        &[(
            "OTEL_SIDECAR_ENDPOINT",
            format!("http://127.0.0.1:{closed}"),
        )],
    )
    .await;
    for _ in 0..3 {
        let id = function.enqueue(event("apigw_v2_root.json"), None).await;
        let (status, body, _) = http_response(&function.wait(&id).await);
        assert_eq!(status, 200);
        assert_eq!(body["buckets"], json!(["only-bucket"]));
    }
    // The third invocation was answered, so the second hand-off has finished too.
    let reports = function
        .stdout()
        .into_iter()
        .filter(|l| l.contains("telemetry hand-off failed"))
        .count();
    assert_eq!(reports, 1, "{:#?}", function.stdout());
}

#[tokio::test]
async fn sdk_disabled_exports_nothing() {
    let function = Function::start(&["b-one"], &[("OTEL_SDK_DISABLED", "true".into())]).await;
    let id = function.enqueue(event("apigw_v2_root.json"), None).await;
    let (status, _, _) = http_response(&function.wait(&id).await);
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(function.backend.requests().is_empty());
}

#[tokio::test]
async fn service_name_and_resource_attributes_from_the_environment() {
    let function = Function::start(
        &["b-one"],
        &[
            ("OTEL_SERVICE_NAME", "aws-rust-http-api".into()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=dev,service.name=overridden,cloud.region=xx".into(),
            ),
        ],
    )
    .await;
    let id = function.enqueue(event("apigw_v2_root.json"), None).await;
    let _ = function.wait(&id).await;
    let span = exported_server_span(&function.backend, &id).await;
    assert_eq!(span.resource["service.name"], json!("aws-rust-http-api"));
    assert_eq!(span.resource["deployment.environment.name"], json!("dev"));
    assert_eq!(
        span.resource["cloud.region"],
        json!("xx"),
        "user attributes win"
    );
    assert_eq!(span.resource["faas.name"], json!(FUNCTION_NAME));
}

#[tokio::test]
async fn an_unsampled_invocation_signals_its_end_instead_of_a_span() {
    let function = Function::start(&["only-bucket"], &[]).await;
    let unsampled = with_header(
        event("apigw_v2_root.json"),
        "traceparent",
        &format!("00-{TRACEPARENT_TRACE}-{TRACEPARENT_PARENT}-00"),
    );
    let quiet = function.enqueue(unsampled, None).await;
    let (status, _, _) = http_response(&function.wait(&quiet).await);
    assert_eq!(status, 200);
    // A sampled invocation after it: once its span is exported, the first hand-off is long over.
    let sampled = function.enqueue(event("apigw_v2_root.json"), None).await;
    function.wait(&sampled).await;
    exported_server_span(&function.backend, &sampled).await;

    assert!(
        server_span(&function.backend, &quiet).is_none(),
        "the caller said not to sample"
    );
    let paths: Vec<String> = function
        .backend
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    let signal = format!("/otel-sidecar/v1/invocations/{quiet}/finished");
    assert_eq!(
        paths.iter().filter(|p| **p == signal).count(),
        1,
        "the sidecar is told the invocation is over: {paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains(&sampled)),
        "a sampled invocation's SERVER span is the signal: {paths:?}"
    );
}

#[tokio::test]
async fn with_otel_sidecar_an_invocation_is_handed_off_in_one_request() {
    let debug = "info,handler::telemetry::delivery=debug".to_string();
    let function = Function::start_with_sidecar(
        &["only-bucket"],
        &[("RUST_LOG", debug)],
        &[("OTEL_SIDECAR_LOG_LEVEL", "debug")],
    )
    .await;
    let unsampled = with_header(
        event("apigw_v2_root.json"),
        "traceparent",
        &format!("00-{TRACEPARENT_TRACE}-{TRACEPARENT_PARENT}-00"),
    );
    let mut ids = Vec::new();
    for payload in [
        event("apigw_v2_root.json"),
        unsampled,
        event("apigw_v2_root.json"),
    ] {
        ids.push(function.enqueue(payload, None).await);
    }
    for id in &ids {
        assert_eq!(http_response(&function.wait(id).await).0, 200);
    }
    // The sidecar exports what it buffered at the latest when it shuts down.
    function
        .sandbox
        .shutdown(lambda_env::ShutdownReason::Spindown)
        .await;

    let phases: Vec<Value> = function
        .stdout()
        .iter()
        .filter(|line| line.contains("hand-off phases"))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(phases.len() >= ids.len(), "{phases:?}");
    for line in &phases[..ids.len()] {
        assert_eq!(
            line["requests"],
            json!(1),
            "one request per hand-off: {line}"
        );
    }
    let sidecar_log = function.sandbox.output_of("otel-sidecar").join("\n");
    // Each invocation ended with the function's hand-off, sampled or not (not with Lambda's
    // runtimeDone, nor the completion timeout).
    for id in &ids {
        assert!(
            sidecar_log.contains(&format!("request_id=\"{id}\" finished_signal=true")),
            "{id}: {sidecar_log}"
        );
    }
    assert!(server_span(&function.backend, &ids[0]).is_some());
    assert!(
        server_span(&function.backend, &ids[1]).is_none(),
        "not sampled"
    );
    assert!(server_span(&function.backend, &ids[2]).is_some());
    let points = metric_points(&function.backend.metrics());
    assert!(
        points
            .iter()
            .any(|p| p.name == "http.server.request.duration"),
        "the function's metrics went through the same request: {points:?}"
    );
    assert!(
        !function
            .stdout()
            .iter()
            .any(|line| line.contains("is not otel-sidecar")),
        "no fallback to plain OTLP"
    );
}

#[tokio::test]
async fn a_plain_otlp_receiver_gets_every_span_once_after_refusing_the_handoff_route() {
    let function = Function::start(&["only-bucket"], &[]).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(function.enqueue(event("apigw_v2_root.json"), None).await);
    }
    for id in &ids {
        function.wait(id).await;
    }
    exported_server_span(&function.backend, &ids[1]).await;
    for id in &ids {
        let copies = spans(&function.backend.traces())
            .iter()
            .filter(|s| {
                s.kind == SERVER && s.attr_str(INVOCATION_ID_ATTRIBUTE) == Some(id.as_str())
            })
            .count();
        assert_eq!(copies, 1, "{id}: sent once, the refused hand-off included");
    }
    let requests: Vec<(String, u16)> = function
        .backend
        .requests()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect();
    let handoff = format!("/otel-sidecar/v1/invocations/{}/handoff", ids[0]);
    assert_eq!(
        requests.first(),
        Some(&(handoff, 404)),
        "the first hand-off tries the sidecar's route: {requests:?}"
    );
    assert!(
        requests[1..]
            .iter()
            .all(|(path, status)| *status == 200 && path.starts_with("/v1/")),
        "then plain OTLP only: {requests:?}"
    );
}
