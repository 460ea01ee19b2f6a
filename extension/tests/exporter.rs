//! The OTLP/HTTP exporter against testkit's decoding fake backend: gzip and headers on the wire, retries
//! only where the OTLP spec allows them (429/502/503/504, honouring Retry-After; never 400), partial
//! success counted, deadlines respected.

use extension::config::{ExporterConfig, Headers, RetryConfig, SignalExport};
use extension::exporter::otlp::{OtlpExporter, SendOutcome};
use extension::pipeline::stats::Stats;
use extension::pipeline::{Payload, Signal};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use std::sync::Arc;
use std::time::Duration;
use testkit::{Behaviour, FakeOtlpBackend};

fn exporter(backend: &FakeOtlpBackend, max_attempts: u32) -> OtlpExporter {
    exporter_with_backoff(backend, max_attempts, Duration::from_millis(50))
}

fn exporter_with_backoff(
    backend: &FakeOtlpBackend,
    max_attempts: u32,
    max_backoff: Duration,
) -> OtlpExporter {
    OtlpExporter::new(
        config(backend, max_attempts, max_backoff),
        Arc::new(Stats::new()),
    )
}

/// Every signal to `backend`, gzip, one auth header.
fn config(backend: &FakeOtlpBackend, max_attempts: u32, max_backoff: Duration) -> ExporterConfig {
    let base = backend.endpoint();
    let signal = |path: &str| SignalExport {
        url: format!("{base}/{path}"),
        headers: Headers(vec![("x-honeycomb-team".into(), "secret-key".into())]),
        gzip: true,
        timeout: Duration::from_secs(5),
    };
    ExporterConfig {
        traces: signal("v1/traces"),
        metrics: signal("v1/metrics"),
        logs: signal("v1/logs"),
        retry: RetryConfig {
            max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff,
        },
    }
}

fn body() -> Vec<u8> {
    let span = Span {
        name: "exported".into(),
        trace_id: vec![7; 16],
        span_id: vec![1; 8],
        ..Default::default()
    };
    Payload::Traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![span],
            ..Default::default()
        }],
        ..Default::default()
    }])
    .encode_request()
}

#[tokio::test]
async fn delivers_gzip_with_the_configured_headers() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    let outcome = exporter(&backend, 3)
        .send(Signal::Traces, body(), None)
        .await;
    assert_eq!(outcome, SendOutcome::Delivered { rejected: 0 });
    let request = &backend.requests()[0];
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.headers["content-encoding"], "gzip");
    assert_eq!(request.headers["content-type"], "application/x-protobuf");
    assert_eq!(request.headers["x-honeycomb-team"], "secret-key");
    assert_eq!(
        testkit::otlp_view::spans(&backend.traces())[0].name,
        "exported"
    );
}

#[tokio::test]
async fn each_signal_is_sent_with_its_own_headers_and_compression() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    let mut config = config(&backend, 1, Duration::from_millis(50));
    config.metrics.headers = Headers(vec![
        ("x-honeycomb-team".into(), "metrics-key".into()),
        ("x-honeycomb-dataset".into(), "metrics".into()),
    ]);
    config.metrics.gzip = false;
    let exporter = OtlpExporter::new(config, Arc::new(Stats::new()));
    let empty_metrics = prost::Message::encode_to_vec(&ExportMetricsServiceRequest::default());
    for (signal, body) in [(Signal::Traces, body()), (Signal::Metrics, empty_metrics)] {
        let outcome = exporter.send(signal, body, None).await;
        assert_eq!(outcome, SendOutcome::Delivered { rejected: 0 });
    }
    let requests = backend.requests();
    let (traces, metrics) = (&requests[0], &requests[1]);
    assert_eq!(traces.path, "/v1/traces");
    assert_eq!(traces.headers["x-honeycomb-team"], "secret-key");
    assert!(traces.headers.get("x-honeycomb-dataset").is_none());
    assert_eq!(traces.headers["content-encoding"], "gzip");
    assert_eq!(metrics.path, "/v1/metrics");
    assert_eq!(metrics.headers["x-honeycomb-team"], "metrics-key");
    assert_eq!(metrics.headers["x-honeycomb-dataset"], "metrics");
    assert!(metrics.headers.get("content-encoding").is_none());
    assert_eq!(metrics.headers["content-type"], "application/x-protobuf");
}

#[tokio::test]
async fn partial_success_is_reported() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    backend.set_behaviour(Behaviour::PartialSuccess { rejected: 1 });
    let outcome = exporter(&backend, 3)
        .send(Signal::Traces, body(), None)
        .await;
    assert_eq!(outcome, SendOutcome::Delivered { rejected: 1 });
    assert_eq!(
        backend.requests().len(),
        1,
        "a partial success is not retried"
    );
}

#[tokio::test]
async fn retryable_statuses_are_retried_up_to_max_attempts() {
    for status in [429, 502, 503, 504] {
        let backend = FakeOtlpBackend::start().await.unwrap();
        backend.set_behaviour(Behaviour::Fail {
            status,
            retry_after: None,
        });
        let outcome = exporter(&backend, 3)
            .send(Signal::Traces, body(), None)
            .await;
        assert!(
            matches!(outcome, SendOutcome::Retryable(_)),
            "{status}: {outcome:?}"
        );
        assert_eq!(backend.requests().len(), 3, "{status}");
    }
}

#[tokio::test]
async fn permanent_failures_are_never_retried() {
    for status in [400, 401, 403, 404, 413] {
        let backend = FakeOtlpBackend::start().await.unwrap();
        backend.set_behaviour(Behaviour::Fail {
            status,
            retry_after: None,
        });
        let outcome = exporter(&backend, 5)
            .send(Signal::Traces, body(), None)
            .await;
        assert!(
            matches!(outcome, SendOutcome::Permanent(_)),
            "{status}: {outcome:?}"
        );
        assert_eq!(backend.requests().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_stops_retrying() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    backend.set_behaviour(Behaviour::Fail {
        status: 503,
        retry_after: Some(30),
    });
    // Retry-After 30 s (capped at 10 s) cannot fit before a 2 s deadline: give up after one attempt.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let outcome = exporter_with_backoff(&backend, 5, Duration::from_secs(10))
        .send(Signal::Traces, body(), Some(deadline))
        .await;
    assert!(
        matches!(outcome, SendOutcome::Retryable(ref reason) if reason.contains("no time left")),
        "{outcome:?}"
    );
    assert_eq!(backend.requests().len(), 1);
    // Without a deadline, Retry-After (capped at max_backoff) is waited and the retries happen.
    backend.set_behaviour(Behaviour::Fail {
        status: 503,
        retry_after: Some(0),
    });
    let _ = exporter(&backend, 2)
        .send(Signal::Traces, body(), None)
        .await;
    assert_eq!(backend.requests().len(), 3);
}

#[tokio::test]
async fn connection_errors_are_retryable() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    let exporter = exporter(&backend, 2);
    drop(backend); // nothing listens any more
    let outcome = exporter.send(Signal::Traces, body(), None).await;
    assert!(matches!(outcome, SendOutcome::Retryable(_)), "{outcome:?}");
}
