//! The sidecar exporting to a real OpenTelemetry Collector (OTLP receiver, file exporter; built from
//! pinned Go modules by scripts/lib/peers.sh) instead of testkit's fake backend. The sidecar and the
//! function are the release binaries, in the image's layout, under AWS's Runtime Interface Emulator
//! (testkit::rie). What counts is what the collector wrote: OTLP it accepted.
//!
//! - protobuf + gzip (the sidecar's defaults), headers (a bearer token the collector checks) and
//!   per-signal endpoints (the collector listens on other paths than `/v1/...`);
//! - a wrong token: 401, nothing written, the sidecar drops and says so;
//! - the collector killed (SIGKILL) and restarted on the same port mid-run: retries, nothing lost,
//!   nothing written twice.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use testkit::otlp_view::spans;
use testkit::{Collector, CollectorOptions, MotoServer, Received, RieOptions, RieSandbox};

const SERVER: i32 = 2;

/// The function, the sidecar and moto under the emulator, exporting to `collector`.
struct Sandbox {
    rie: RieSandbox,
    receiver: u16,
    _moto: MotoServer,
}

/// The sidecar flushes after every invocation (`end`), so that each invocation's export is one
/// step the test can place a collector crash between.
fn sidecar_config(receiver: u16, listener: u16) -> String {
    format!(
        "receivers:\n  otlp_http:\n    endpoint: \"127.0.0.1:{receiver}\"\n\
flush:\n  mode: end\n\
telemetry_api:\n  listener: \"0.0.0.0:{listener}\"\n"
    )
}

fn start_sandbox(exporter_env: &[(&str, String)]) -> Sandbox {
    let moto = MotoServer::start().expect("moto");
    let receiver = testkit::moto::free_port().expect("port");
    let listener = testkit::moto::free_port().expect("port");
    let mut env = vec![
        ("AWS_REGION", "eu-west-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "test-session-token".into()),
        ("AWS_ENDPOINT_URL_S3", moto.endpoint()),
        (
            "OTEL_SIDECAR_ENDPOINT",
            format!("http://127.0.0.1:{receiver}"),
        ),
        ("OTEL_SIDECAR_LOG_FORMAT", "text".into()),
    ];
    env.extend(exporter_env.iter().cloned());
    let options =
        RieOptions::image(sidecar_config(receiver, listener), &env).expect("release binaries");
    let rie = RieSandbox::start(&options).expect("Runtime Interface Emulator");
    Sandbox {
        rie,
        receiver,
        _moto: moto,
    }
}

const ROOT_EVENT: &str = include_str!("../../deploy/events/get-root.json");

/// One invocation of `GET /` with our request id, through the emulator's invoke endpoint.
async fn invoke(rie: &RieSandbox, request_id: &str) {
    let response = reqwest::Client::new()
        .post(rie.invocations_url())
        .header("X-Amzn-RequestId", request_id)
        .body(ROOT_EVENT)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("invoke");
    assert_eq!(response.status().as_u16(), 200, "invocation {request_id}");
}

/// Server spans the collector wrote, by invocation id, with how often each was written.
fn server_spans(collector: &Collector) -> BTreeMap<String, usize> {
    let traces: Vec<_> = received(collector)
        .into_iter()
        .filter_map(Received::into_traces)
        .collect();
    let mut out = BTreeMap::new();
    for span in spans(&traces).into_iter().filter(|s| s.kind == SERVER) {
        if let Some(id) = span.attr_str("faas.invocation_id") {
            *out.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    out
}

fn received(collector: &Collector) -> Vec<Received> {
    collector
        .received()
        .expect("the collector's output decodes as OTLP/JSON")
}

async fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An OTLP/protobuf log record posted to the sidecar's receiver, as a function's SDK would.
async fn post_log(receiver: u16, body: &str) {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_795_608_000_000_000_000,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(body.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{receiver}/v1/logs"))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .await
        .expect("post a log record to the sidecar");
    assert_eq!(response.status().as_u16(), 200);
}

fn log_bodies(collector: &Collector) -> Vec<String> {
    received(collector)
        .into_iter()
        .filter_map(Received::into_logs)
        .flat_map(|l| l.resource_logs)
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .filter_map(|r| match r.body.and_then(|b| b.value) {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        })
        .collect()
}

/// The names of every metric the collector wrote.
fn metric_names(collector: &Collector) -> BTreeSet<String> {
    received(collector)
        .into_iter()
        .filter_map(Received::into_metrics)
        .flat_map(|m| m.resource_metrics)
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
        .map(|m| m.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn collector_accepts_gzip_protobuf_with_bearer_token_on_per_signal_endpoints() {
    let paths = ["/t/v1/traces", "/m/v1/metrics", "/l/v1/logs"].map(String::from);
    let collector = Collector::start(&CollectorOptions {
        bearer_token: Some("s3cret-token".into()),
        url_paths: Some(paths.clone()),
    })
    .expect("OpenTelemetry Collector");
    let base = collector.endpoint();
    // No generic endpoint: with it, a sidecar ignoring a per-signal one would send to `/v1/...`,
    // which this collector answers 404.
    let sandbox = start_sandbox(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{base}{}", paths[0]),
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            format!("{base}{}", paths[1]),
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            format!("{base}{}", paths[2]),
        ),
        // %-encoded value, as the specification has it: `Bearer s3cret-token`.
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20s3cret-token".into(),
        ),
    ]);
    invoke(&sandbox.rie, "token-1").await;
    post_log(sandbox.receiver, "a line from the function").await;
    invoke(&sandbox.rie, "token-2").await;

    // The signals of one flush are sent concurrently: wait for all three before asserting.
    wait_for(
        "both invocations' spans, the log record and the sidecar's own metrics",
        Duration::from_secs(20),
        || {
            server_spans(&collector).len() == 2
                && !log_bodies(&collector).is_empty()
                && metric_names(&collector).contains("otel_sidecar.exports")
        },
    )
    .await;
    assert_eq!(
        server_spans(&collector),
        BTreeMap::from([("token-1".to_string(), 1), ("token-2".to_string(), 1)])
    );
    assert_eq!(log_bodies(&collector), ["a line from the function"]);
    let names = metric_names(&collector);
    assert!(names.contains("http.server.request.duration"), "{names:?}");
    let output = sandbox.rie.output().join("\n");
    assert!(!output.contains("backend refused"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn collector_refuses_a_wrong_token_and_the_sidecar_drops_instead_of_retrying() {
    let collector = Collector::start(&CollectorOptions {
        bearer_token: Some("right-token".into()),
        url_paths: None,
    })
    .expect("OpenTelemetry Collector");
    let mut sandbox = start_sandbox(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20wrong-token".into(),
        ),
    ]);
    invoke(&sandbox.rie, "wrong-1").await;
    let status = sandbox
        .rie
        .terminate(Duration::from_secs(10))
        .expect("emulator exits");
    assert!(status.success(), "{status}");
    let output = sandbox.rie.output();
    let joined = output.join("\n");
    assert!(
        output
            .iter()
            .any(|l| l.contains("backend refused telemetry; dropped") && l.contains("401")),
        "the sidecar reports the collector's 401:\n{joined}"
    );
    assert!(
        !joined.contains("export failed; telemetry kept"),
        "401 is not retried:\n{joined}"
    );
    assert!(
        received(&collector).is_empty(),
        "the collector wrote nothing"
    );
}

/// Every data point of `http.server.request.duration` (histogram) as (route, time, count).
fn request_duration_points(collector: &Collector) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for r in received(collector) {
        let Received::Metrics(m) = r else { continue };
        for metric in m
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == "http.server.request.duration")
        {
            if let Some(Data::Histogram(h)) = &metric.data {
                for p in &h.data_points {
                    let route = attribute(&p.attributes, "http.route");
                    out.push((route, p.time_unix_nano, p.count));
                }
            }
        }
    }
    out
}

fn attribute(attributes: &[KeyValue], key: &str) -> String {
    testkit::otlp_view::string_attribute(attributes, key)
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the collector's output stops growing for `quiet`: the file exporter has flushed and
/// no export is being written (so that a kill cannot fall between its write and its answer, the one
/// moment where OTLP's at-least-once delivery may legitimately repeat a request).
async fn settle(collector: &Collector, quiet: Duration) {
    let mut last = received(collector).len();
    let mut since = Instant::now();
    let start = Instant::now();
    while since.elapsed() < quiet {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the collector's output never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = received(collector).len();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn collector_killed_and_restarted_mid_run_loses_nothing_and_gets_nothing_twice() {
    let mut collector =
        Collector::start(&CollectorOptions::default()).expect("OpenTelemetry Collector");
    let mut sandbox = start_sandbox(&[("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())]);
    let ids: Vec<String> = (1..=9).map(|i| format!("crash-{i}")).collect();

    // Up: the first three arrive.
    for id in &ids[..3] {
        invoke(&sandbox.rie, id).await;
    }
    wait_for(
        "the first three invocations",
        Duration::from_secs(20),
        || server_spans(&collector).len() == 3,
    )
    .await;
    settle(&collector, Duration::from_millis(500)).await;

    // Down (a crash: SIGKILL): three more; every export fails and is retried, then kept.
    collector.kill();
    for id in &ids[3..6] {
        invoke(&sandbox.rie, id).await;
    }
    let failed = || {
        sandbox
            .rie
            .output()
            .iter()
            .any(|l| l.contains("export failed; telemetry kept for a later flush"))
    };
    wait_for(
        "an export that failed while the collector was down",
        Duration::from_secs(20),
        failed,
    )
    .await;
    assert_eq!(
        server_spans(&collector).len(),
        3,
        "nothing can arrive while it is down"
    );

    // Up again on the same port: three more, then `docker stop`.
    collector.restart().expect("collector restarts");
    for id in &ids[6..] {
        invoke(&sandbox.rie, id).await;
    }
    let status = sandbox
        .rie
        .terminate(Duration::from_secs(10))
        .expect("emulator exits");
    assert!(status.success(), "{status}");
    let joined = sandbox.rie.output().join("\n");
    assert!(joined.contains("shutdown: everything exported"), "{joined}");

    let expected: BTreeMap<String, usize> = ids.iter().map(|id| (id.clone(), 1)).collect();
    assert_eq!(
        server_spans(&collector),
        expected,
        "each invocation's span written exactly once"
    );
    // Every span (server and S3 client spans) once.
    let traces: Vec<_> = received(&collector)
        .into_iter()
        .filter_map(Received::into_traces)
        .collect();
    let all = spans(&traces);
    let unique: BTreeSet<_> = all
        .iter()
        .map(|s| (s.trace_id.clone(), s.span_id.clone()))
        .collect();
    assert_eq!(unique.len(), all.len(), "a span was written twice");
    // Metrics: each data point once, and the last cumulative count covers all nine invocations.
    let points = request_duration_points(&collector);
    let distinct: BTreeSet<_> = points
        .iter()
        .map(|(route, time, _)| (route.clone(), *time))
        .collect();
    assert_eq!(
        distinct.len(),
        points.len(),
        "a metric point was written twice: {points:?}"
    );
    let last = points
        .iter()
        .max_by_key(|(_, time, _)| *time)
        .map(|(_, _, count)| *count);
    assert_eq!(last, Some(9), "{points:?}");
}

/// A trace export request with one span whose span id is 5 bytes long: the collector's OTLP
/// decoder refuses it (pdata `SpanID.UnmarshalProto`: an id is 8 bytes or empty).
fn span_with_a_5_byte_id() -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![0x11; 16],
                    span_id: vec![0x22; 5],
                    name: "malformed".into(),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn post_traces(url: String, body: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("post traces")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_collector_refuses_the_sidecar_refuses_at_its_receiver_and_nothing_else_is_lost() {
    let collector =
        Collector::start(&CollectorOptions::default()).expect("OpenTelemetry Collector");
    // Ground truth: the collector answers 400 to a 5-byte span id.
    let direct = post_traces(
        format!("{}/v1/traces", collector.endpoint()),
        span_with_a_5_byte_id(),
    )
    .await;
    assert_eq!(direct, 400, "the collector's verdict");

    let mut sandbox = start_sandbox(&[("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())]);
    invoke(&sandbox.rie, "before-bad").await;
    // A function (its SDK) sends the same: the sidecar answers as the collector does, instead of
    // accepting it and later losing a whole export batch to the backend's 400.
    let at_sidecar = post_traces(
        format!("http://127.0.0.1:{}/v1/traces", sandbox.receiver),
        span_with_a_5_byte_id(),
    )
    .await;
    assert_eq!(
        at_sidecar, direct,
        "the sidecar's receiver agrees with the collector"
    );
    invoke(&sandbox.rie, "after-bad").await;
    let status = sandbox
        .rie
        .terminate(Duration::from_secs(10))
        .expect("emulator exits");
    assert!(status.success(), "{status}");
    let joined = sandbox.rie.output().join("\n");
    assert!(!joined.contains("backend refused"), "{joined}");
    assert_eq!(
        server_spans(&collector),
        BTreeMap::from([("after-bad".to_string(), 1), ("before-bad".to_string(), 1)])
    );
}
