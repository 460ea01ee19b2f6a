//! The fake OTLP backend accepts exactly what a real OpenTelemetry Collector accepts: the same
//! requests go to both, and their status codes must match. Where they disagreed, the collector won and
//! the fake was changed (id lengths, media types). A request the collector refuses must never pass
//! a test that uses the fake.

// Test code: a failed unwrap in a helper fails the test that called it.
#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::span::Link;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use testkit::gzip;
use testkit::{Collector, CollectorOptions, FakeOtlpBackend};

fn traces(span: Span) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn span(trace: usize, id: usize, parent: usize) -> Span {
    Span {
        trace_id: vec![1; trace],
        span_id: vec![2; id],
        parent_span_id: vec![3; parent],
        name: "s".into(),
        kind: 2,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        ..Default::default()
    }
}

fn logs(trace: usize, id: usize) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    trace_id: vec![1; trace],
                    span_id: vec![2; id],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gauge_with_exemplar(span: usize) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "g".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            exemplars: vec![Exemplar {
                                trace_id: vec![1; 16],
                                span_id: vec![2; span],
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
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

struct Case {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    gzip: bool,
    body: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let proto = |name, path, body| Case {
        name,
        path,
        content_type: "application/x-protobuf",
        gzip: false,
        body,
    };
    let mut linked = span(16, 8, 0);
    linked.links.push(Link {
        trace_id: vec![1; 16],
        span_id: vec![2; 4],
        ..Default::default()
    });
    vec![
        proto("valid span", "/v1/traces", traces(span(16, 8, 8))),
        proto("root span", "/v1/traces", traces(span(16, 8, 0))),
        proto("empty ids", "/v1/traces", traces(span(0, 0, 0))),
        proto("15-byte trace id", "/v1/traces", traces(span(15, 8, 0))),
        proto("5-byte span id", "/v1/traces", traces(span(16, 5, 0))),
        proto("9-byte parent id", "/v1/traces", traces(span(16, 8, 9))),
        proto("4-byte link span id", "/v1/traces", traces(linked)),
        proto("valid log record", "/v1/logs", logs(16, 8)),
        proto("log record without ids", "/v1/logs", logs(0, 0)),
        proto("3-byte log trace id", "/v1/logs", logs(3, 8)),
        proto("valid exemplar", "/v1/metrics", gauge_with_exemplar(8)),
        proto("7-byte exemplar span id", "/v1/metrics", gauge_with_exemplar(7)),
        proto("not protobuf", "/v1/traces", b"\xff\xff\xff".to_vec()),
        proto("unknown path", "/v1/profiles-nope", traces(span(16, 8, 0))),
        Case {
            name: "gzip",
            path: "/v1/traces",
            content_type: "application/x-protobuf",
            gzip: true,
            body: gzip(&traces(span(16, 8, 0))),
        },
        Case {
            name: "gzip declared, not gzip",
            path: "/v1/traces",
            content_type: "application/x-protobuf",
            gzip: true,
            body: traces(span(16, 8, 0)),
        },
        Case {
            name: "OTLP/JSON",
            path: "/v1/traces",
            content_type: "application/json",
            gzip: false,
            body: br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#.to_vec(),
        },
        Case {
            name: "text/plain",
            path: "/v1/traces",
            content_type: "text/plain",
            gzip: false,
            body: traces(span(16, 8, 0)),
        },
    ]
}

async fn status(base: &str, case: &Case) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{}", case.path))
        .header("content-type", case.content_type)
        .body(case.body.clone());
    if case.gzip {
        request = request.header("content-encoding", "gzip");
    }
    request.send().await.expect("request").status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fake_backend_accepts_and_refuses_what_the_collector_does() {
    let collector =
        Collector::start(&CollectorOptions::default()).expect("OpenTelemetry Collector");
    let fake = FakeOtlpBackend::start().await.expect("fake backend");
    let mut disagreements = Vec::new();
    let mut accepted = 0;
    for case in cases() {
        let real = status(&collector.endpoint(), &case).await;
        let ours = status(&fake.endpoint(), &case).await;
        if real != ours {
            disagreements.push(format!("{}: collector {real}, fake {ours}", case.name));
        }
        if real == 200 {
            accepted += 1;
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    // The cases mean something: some are accepted, the rest refused.
    assert_eq!(accepted, 8, "valid cases the collector accepted");
    // What the collector accepted, it wrote (once its 5 ms flush tick came): one line per request.
    let start = std::time::Instant::now();
    while collector.received().expect("collector output").len() < accepted
        && start.elapsed() < std::time::Duration::from_secs(10)
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        collector.received().expect("collector output").len(),
        accepted
    );
}
