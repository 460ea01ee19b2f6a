//! Unit tests of the OTLP/HTTP receiver, through the router (no socket).

use super::*;
use crate::lifecycle::completion::Completions;
use crate::pipeline::{Payload, SharedBuffer};
use axum::http::Request;
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use std::sync::Arc;
use testkit::gzip;
use tower::ServiceExt;

const LIMIT: usize = 4096;
/// What the hand-off route announces as the lifecycle's completion wait.
const COMPLETION_WAIT: std::time::Duration = std::time::Duration::from_millis(3000);

fn setup() -> (Router, SharedBuffer) {
    let buffer = SharedBuffer::new(1 << 20);
    let ingest = Ingest::new(buffer.clone(), Arc::new(Completions::default()));
    (router(ingest, LIMIT, COMPLETION_WAIT), buffer)
}

fn traces(name: &str) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: name.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

const PROTO: (&str, &str) = ("content-type", "application/x-protobuf");

fn span_names(buffer: &SharedBuffer) -> Vec<String> {
    buffer
        .lock()
        .drain()
        .into_iter()
        .flat_map(|e| match e.decode().unwrap() {
            Payload::Traces(list) => list,
            _ => Vec::new(),
        })
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|s| s.name)
        .collect()
}

#[tokio::test]
async fn protobuf_json_and_gzip_are_accepted() {
    let (app, buffer) = setup();
    let (status, body) = send(&app, "POST", "/v1/traces", &[PROTO], traces("plain")).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));
    let (status, _) = send(
        &app,
        "POST",
        "/v1/traces",
        &[PROTO, ("content-encoding", "gzip")],
        gzip(&traces("gzipped")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let json = include_bytes!("../../../tests/fixtures/otlp_traces.json").to_vec();
    let (status, body) = send(
        &app,
        "POST",
        "/v1/traces",
        &[("content-type", "application/json")],
        json,
    )
    .await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"{}".as_slice())
    );
    let (status, _) = send(&app, "POST", "/v1/metrics", &[PROTO], Vec::new()).await;
    assert_eq!(status, StatusCode::OK, "an empty request is valid");
    assert_eq!(
        span_names(&buffer),
        ["plain", "gzipped", "I'm a server span", "child"]
    );
}

#[tokio::test]
async fn bad_requests_get_the_spec_status_and_nothing_else_is_lost() {
    let (app, buffer) = setup();
    send(&app, "POST", "/v1/traces", &[PROTO], traces("before")).await;

    let (status, body) = send(
        &app,
        "POST",
        "/v1/traces",
        &[PROTO],
        b"\xff\xff\xff\xff".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(RpcStatus::decode(body.as_slice()).unwrap().code, 3);
    let (status, _) = send(
        &app,
        "POST",
        "/v1/traces",
        &[PROTO, ("content-encoding", "gzip")],
        b"nope".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = send(
        &app,
        "POST",
        "/v1/logs",
        &[("content-type", "application/json")],
        b"{".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8(body).unwrap().contains("\"code\":3"));

    let big = traces(&"x".repeat(LIMIT));
    let (status, _) = send(&app, "POST", "/v1/traces", &[PROTO], big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let small_but_inflates_too_big = gzip(&big);
    assert!(small_but_inflates_too_big.len() < LIMIT);
    let (status, _) = send(
        &app,
        "POST",
        "/v1/traces",
        &[PROTO, ("content-encoding", "gzip")],
        small_but_inflates_too_big,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, _) = send(
        &app,
        "POST",
        "/v1/traces",
        &[("content-type", "text/plain")],
        traces("x"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = send(&app, "POST", "/v1/traces", &[], traces("x")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = send(
        &app,
        "POST",
        "/v1/traces",
        &[PROTO, ("content-encoding", "br")],
        traces("x"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = send(&app, "POST", "/v1/profiles", &[PROTO], traces("x")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, "GET", "/v1/traces", &[], Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    send(&app, "POST", "/v1/traces", &[PROTO], traces("after")).await;
    assert_eq!(span_names(&buffer), ["before", "after"]);
}

#[tokio::test]
async fn the_functions_explicit_finished_signal_completes_the_invocation() {
    let buffer = SharedBuffer::new(1 << 20);
    let completions = Arc::new(Completions::default());
    let app = router(
        Ingest::new(buffer, completions.clone()),
        LIMIT,
        COMPLETION_WAIT,
    );
    let path = "/otel-sidecar/v1/invocations/6d68ca91-49c9-448d-89b8-7ca3e6dc66aa/finished";
    let (status, _) = send(&app, "POST", path, &[], Vec::new()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(completions.is_finished("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"));
    assert!(completions.signalled_by_function("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"));
    let (status, body) = send(
        &app,
        "POST",
        "/otel-sidecar/v1/invocations/a%20b/finished",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
    assert!(!completions.is_finished("a b"));
    let (status, _) = send(&app, "GET", path, &[], Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

fn server_span(invocation: &str) -> Vec<u8> {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "GET /".into(),
                    kind: 2,
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    attributes: vec![KeyValue {
                        key: sidecar_contract::INVOCATION_ID_ATTRIBUTE.into(),
                        value: Some(AnyValue {
                            value: Some(Value::StringValue(invocation.into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn metrics(name: &str) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint::default()],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn handoff_setup() -> (Router, SharedBuffer, Arc<Completions>) {
    let buffer = SharedBuffer::new(1 << 20);
    let completions = Arc::new(Completions::default());
    let app = router(
        Ingest::new(buffer.clone(), completions.clone()),
        LIMIT,
        COMPLETION_WAIT,
    );
    (app, buffer, completions)
}

const INVOCATION: &str = "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa";

fn handoff_path(id: &str) -> String {
    sidecar_contract::Route::HandOff.path(&sidecar_contract::InvocationId::parse(id).unwrap())
}

#[tokio::test]
async fn a_handoff_buffers_metrics_then_spans_then_finishes_the_invocation() {
    let (app, buffer, completions) = handoff_setup();
    let (metrics, spans) = (metrics("requests"), server_span(INVOCATION));
    let body = sidecar_contract::HandOff {
        metrics: Some(metrics.clone().into()),
        traces: Some(spans.clone().into()),
    }
    .encode_to_vec();
    let (status, _) = send(&app, "POST", &handoff_path(INVOCATION), &[PROTO], body).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(completions.signalled_by_function(INVOCATION));
    assert_eq!(
        completions.root_span(INVOCATION).map(|root| root.span_id),
        Some(vec![2; 8]),
        "the SERVER span's ids are kept, as from /v1/traces"
    );
    let entries = buffer.lock().drain();
    let signals: Vec<Signal> = entries.iter().map(|e| e.signal).collect();
    assert_eq!(signals, [Signal::Metrics, Signal::Traces]);
    assert_eq!(
        entries[1].decode().unwrap(),
        decode(Signal::Traces, Format::Protobuf, &spans).unwrap(),
        "buffered as received"
    );

    // An unsampled invocation with nothing to export: the body is empty, the end is still signalled.
    let (status, _) = send(&app, "POST", &handoff_path("quiet"), &[PROTO], Vec::new()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(completions.signalled_by_function("quiet"));
    assert!(buffer.lock().is_empty());

    // Every 204 announces the lifecycle's completion wait: the function writes a hand-off without
    // waiting for its answer only well within it.
    let request = Request::builder()
        .method("POST")
        .uri(handoff_path("announced"))
        .header(PROTO.0, PROTO.1)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        response.headers()[sidecar_contract::COMPLETION_WAIT_HEADER],
        COMPLETION_WAIT.as_millis().to_string()
    );
}

#[tokio::test]
async fn a_refused_handoff_buffers_nothing_and_finishes_nothing() {
    let (app, buffer, completions) = handoff_setup();
    let path = handoff_path(INVOCATION);
    let good = metrics("requests");
    let bad_traces = sidecar_contract::HandOff {
        metrics: Some(good.into()),
        traces: Some(bytes::Bytes::from_static(b"\xff\xff\xff")),
    }
    .encode_to_vec();
    let (status, body) = send(&app, "POST", &path, &[PROTO], bad_traces).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(RpcStatus::decode(&body[..]).unwrap().code, 3);
    let (status, _) = send(&app, "POST", &path, &[PROTO], vec![0x0a, 5, 1]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "truncated body");
    let json = ("content-type", "application/json");
    let (status, _) = send(&app, "POST", &path, &[json], b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let large = sidecar_contract::HandOff {
        metrics: Some(vec![0; LIMIT].into()),
        traces: None,
    }
    .encode_to_vec();
    let (status, _) = send(&app, "POST", &path, &[PROTO], large).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let bad_id = "/otel-sidecar/v1/invocations/a%20b/handoff";
    let (status, _) = send(&app, "POST", bad_id, &[PROTO], Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(buffer.lock().is_empty());
    assert!(!completions.is_finished(INVOCATION));
}
