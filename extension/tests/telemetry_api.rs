//! The real sidecar and the real function (`bootstrap`, reading a moto S3) under `lambda-env` (the
//! workspace's Lambda environment, in Lambda's order, frozen between invocations) with its Telemetry
//! API: a cold start, successful invocations, an unsampled one, an error, then SHUTDOWN. Asserted at
//! the decoding fake backend: Lambda's `Invocation` spans and the handler's spans form one tree per
//! invocation, the cold start's `Initialization` span sits beside the first `Invocation` under
//! `ColdStart`, the `faas.*` metrics equal what the environment reported in its `platform.*` events, and the function's own log
//! lines (delivered as `function` records) reach the backend linked to their invocations.
//!
//! The real function cannot be made to hang, so a timed-out invocation is delivered to the
//! sidecar's listener the way Lambda delivers batches (HTTP POST of a JSON array), with an unknown
//! event type in it.

use lambda_env::{Config, Event, Invoke, Outcome, Process, Sandbox, ShutdownReason};
use std::collections::BTreeMap;
use std::time::Duration;
use testkit::otlp_view::{FlatMetricPoint, FlatSpan, metric_points, spans};
use testkit::{FakeOtlpBackend, MotoServer};

const GET_ROOT: &str = include_str!("../../deploy/events/get-root.json");

fn xray_header(n: u8) -> (String, String, String) {
    let trace = format!("6745a1b2{:024x}", 0xabc000 + u32::from(n));
    let parent = format!("{:016x}", 0x5399_5c3f_0000_0000_u64 + u64::from(n));
    let header = format!(
        "Root=1-{}-{};Parent={parent};Sampled=0",
        &trace[..8],
        &trace[8..]
    );
    (header, trace, parent)
}

fn record(events: &[Event], kind: &str) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter(|e| e.event_type == kind)
        .map(|e| e.record.clone())
        .collect()
}

/// The last (cumulative) point of `name`.
fn last<'a>(points: &'a [FlatMetricPoint], name: &str) -> &'a FlatMetricPoint {
    points
        .iter()
        .rev()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name} point"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_spans_join_the_functions_traces_and_metrics_match_the_platform() {
    let backend = FakeOtlpBackend::start().await.expect("backend");
    let moto = MotoServer::start().expect("moto");
    let receiver = testkit::moto::free_port().expect("port");
    let listener = testkit::moto::free_port().expect("port");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("otel-config.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp_http: {{ endpoint: \"127.0.0.1:{receiver}\" }}\n\
             flush: {{ mode: end }}\n\
             telemetry_api:\n  listener: \"127.0.0.1:{listener}\"\n  faas_trigger: http\n"
        ),
    )
    .expect("config");
    let sidecar = Process::new(testkit::release_binary("otel-sidecar").expect("otel-sidecar"))
        .env("OTEL_SIDECAR_CONFIG", config.display().to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint())
        .env("OTEL_SIDECAR_LOG_FORMAT", "text")
        .env("OTEL_SIDECAR_LOG_LEVEL", "debug");
    let function = Process::new(testkit::release_binary("bootstrap").expect("bootstrap"))
        .env(
            "OTEL_SIDECAR_ENDPOINT",
            format!("http://127.0.0.1:{receiver}"),
        )
        .env("OTEL_SERVICE_NAME", "aws-rust-http-api")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON");
    let sandbox = Sandbox::start(Config {
        function_name: "aws-rust-http-api-test".into(),
        memory_mb: 256,
        region: "eu-west-1".into(),
        timeout: Duration::from_secs(10),
        inherit_env: false,
        echo_output: true,
        ..Config::default().runtime(function).extension(sidecar)
    })
    .await
    .expect("sandbox");
    let log = || sandbox.output_of("otel-sidecar").join("\n");
    assert!(
        log().contains("subscribed to the Telemetry API"),
        "{}",
        log()
    );

    // Three API Gateway requests with the X-Ray header Lambda writes, then an event the function
    // cannot read (lambda_http reports an invocation error).
    let event: serde_json::Value = serde_json::from_str(GET_ROOT).expect("event");
    let mut expected = Vec::new();
    for n in 0..3 {
        let (header, trace, parent) = xray_header(n);
        let done = sandbox
            .run(Invoke::json(&event).trace_header(header))
            .await
            .expect("invocation");
        assert!(
            matches!(done.outcome, Outcome::Response(_)),
            "{:?}",
            done.outcome
        );
        expected.push((done.request_id, trace, parent));
    }
    // A caller that does not sample: no SERVER span, the handler signals the end explicitly.
    let mut unsampled_event = event.clone();
    unsampled_event["headers"]["traceparent"] =
        serde_json::json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    let unsampled_id = sandbox
        .run(Invoke::json(&unsampled_event))
        .await
        .expect("invocation")
        .request_id;
    let error = sandbox
        .run(Invoke::json(&serde_json::json!({"not": "an HTTP event"})))
        .await
        .expect("invocation");
    assert!(
        matches!(error.outcome, Outcome::FunctionError { .. }),
        "{:?}",
        error.outcome
    );
    let error_id = error.request_id;
    assert_eq!(sandbox.records("platform.report").len(), 5);

    // A timed-out invocation with a log line, delivered as Lambda delivers batches. The sidecar is
    // frozen now: the POST waits in its socket until the shutdown thaws it (before the runtime's
    // SIGTERM and the SHUTDOWN event), as a batch due during a freeze does in Lambda.
    let now = chrono::Utc::now();
    let at = |ms: i64| (now + chrono::Duration::milliseconds(ms)).to_rfc3339();
    let batch = serde_json::json!([
        {"time": at(0), "type": "platform.start", "record": {"requestId": "timed-out"}},
        {"time": at(1), "type": "function", "record": "{\"level\":\"WARN\",\"message\":\"still waiting\"}"},
        {"time": at(3000), "type": "platform.runtimeDone", "record": {"requestId": "timed-out", "status": "timeout", "errorType": "Sandbox.Timedout", "metrics": {"durationMs": 3000.0}}},
        {"time": at(3001), "type": "platform.report", "record": {"requestId": "timed-out", "status": "timeout", "metrics": {"durationMs": 3001.0, "billedDurationMs": 3001, "memorySizeMB": 256, "maxMemoryUsedMB": 64}}},
        {"time": at(3002), "type": "platform.aFutureEvent", "record": {}}
    ]);
    let delivery = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{listener}/"))
            .json(&batch)
            .send(),
    );

    let stopped = sandbox.shutdown(ShutdownReason::Spindown).await;
    let delivered = delivery.await.expect("task").expect("deliver");
    assert_eq!(
        delivered.status(),
        200,
        "one unknown record never fails a batch"
    );
    let captured = sandbox.events();
    let sidecar_end = stopped.process("otel-sidecar").expect("sidecar");
    assert!(
        !sidecar_end.killed && sidecar_end.status.is_some_and(|s| s.success()),
        "{sidecar_end:?}\n{}",
        log()
    );

    // One tree per invocation: Lambda's span is the parent the handler's root span points at.
    let all: Vec<FlatSpan> = spans(&backend.traces());
    let by_id = |id: &str, scope_is_platform: bool| -> Vec<&FlatSpan> {
        all.iter()
            .filter(|s| s.attr_str("faas.invocation_id") == Some(id))
            .filter(|s| (s.scope == "otel-sidecar/telemetry-api") == scope_is_platform)
            .collect()
    };
    for (n, (id, trace, parent)) in expected.iter().enumerate() {
        let platform: Vec<&FlatSpan> = by_id(id, true)
            .into_iter()
            .filter(|s| s.name != "ColdStart")
            .collect();
        assert_eq!(platform.len(), 1, "one Invocation span for {id}: {all:#?}");
        let invocation = platform[0];
        assert_eq!(invocation.name, "Invocation");
        let handler = by_id(id, false);
        let root = handler
            .iter()
            .find(|s| s.kind == 2)
            .unwrap_or_else(|| panic!("handler SERVER span for {id}: {all:#?}"));
        assert_eq!(&invocation.trace_id, trace, "X-Ray Root → W3C trace id");
        assert_eq!(
            &root.trace_id, trace,
            "the handler continues the same trace"
        );
        assert_eq!(
            &invocation.span_id, parent,
            "Lambda's span id is the X-Ray Parent"
        );
        assert_eq!(root.parent_span_id, invocation.span_id, "one tree");
        let cold = invocation
            .attributes
            .get("faas.coldstart")
            .and_then(|v| v.as_bool());
        assert_eq!(cold, (n == 0).then_some(true), "{id}");
        assert_eq!(invocation.status_code, 0, "success leaves the status unset");
        assert!(invocation.start_unix_nano <= root.start_unix_nano);
        let children: Vec<&str> = all
            .iter()
            .filter(|s| s.parent_span_id == invocation.span_id && s.scope == invocation.scope)
            .map(|s| s.name.as_str())
            .collect();
        assert!(!children.contains(&"Initialization"), "{children:?}");
        if n == 0 {
            // The cold start: Initialization beside the first Invocation, under a common ColdStart.
            let cold = all
                .iter()
                .find(|s| s.span_id == invocation.parent_span_id)
                .unwrap_or_else(|| panic!("the first Invocation's parent: {all:#?}"));
            assert_eq!(cold.name, "ColdStart");
            let beside: Vec<&str> = all
                .iter()
                .filter(|s| s.parent_span_id == cold.span_id)
                .map(|s| s.name.as_str())
                .collect();
            assert!(beside.contains(&"Initialization"), "{beside:?}");
        }
    }
    let init = all
        .iter()
        .filter(|s| s.name == "Initialization")
        .collect::<Vec<_>>();
    assert_eq!(init.len(), 1, "one cold start");
    assert_eq!(init[0].trace_id, expected[0].1);

    // The unsampled invocation: Lambda's span only, and the sidecar did not wait for a root span.
    assert_eq!(by_id(&unsampled_id, false).len(), 0);
    assert_eq!(by_id(&unsampled_id, true).len(), 1);
    assert!(
        !log().contains(&format!(
            "no end-of-invocation signal before the completion timeout request_id=\"{unsampled_id}\""
        )) && log().contains(&format!("request_id=\"{unsampled_id}\" finished_signal=true")),
        "the explicit signal ended the wait:\n{}",
        log()
    );
    let error = by_id(&error_id, true);
    assert_eq!(error.len(), 1);
    assert_eq!(error[0].status_code, 2, "error status");
    assert_eq!(error[0].attr_str("aws.lambda.status"), Some("error"));
    let timed_out = by_id("timed-out", true);
    assert_eq!(timed_out.len(), 1);
    assert_eq!(
        timed_out[0].attr_str("error.type"),
        Some("Sandbox.Timedout")
    );

    // Metrics equal what the platform reported.
    let points = metric_points(&backend.metrics());
    let runtime_done = record(&captured, "platform.runtimeDone");
    let reports = record(&captured, "platform.report");
    assert_eq!(runtime_done.len(), 5);
    assert_eq!(
        last(&points, "faas.invocations").value,
        6.0,
        "5 from the environment + 1 timed out"
    );
    assert_eq!(last(&points, "faas.errors").value, 1.0);
    assert_eq!(last(&points, "faas.timeouts").value, 1.0);
    assert_eq!(last(&points, "faas.coldstarts").value, 1.0);
    let f = |v: &serde_json::Value, path: &[&str]| {
        path.iter()
            .fold(v, |v, k| &v[*k])
            .as_f64()
            .unwrap_or_else(|| panic!("{path:?} in {v}"))
    };
    let invoke = last(&points, "faas.invoke_duration");
    let simulated: f64 = runtime_done
        .iter()
        .map(|r| f(r, &["metrics", "durationMs"]))
        .sum();
    assert_eq!(invoke.count, 6);
    assert!(
        (invoke.value - (simulated + 3000.0) / 1000.0).abs() < 1e-6,
        "{invoke:?}"
    );
    let memory = last(&points, "faas.mem_usage");
    let simulated: f64 = reports
        .iter()
        .map(|r| f(r, &["metrics", "maxMemoryUsedMB"]))
        .sum();
    assert_eq!(memory.value, (simulated + 64.0) * 1_048_576.0);
    assert_eq!(memory.unit, "By");
    let billed = last(&points, "aws.lambda.billed_duration");
    let simulated: f64 = reports
        .iter()
        .map(|r| f(r, &["metrics", "billedDurationMs"]))
        .sum();
    assert!((billed.value - (simulated + 3001.0) / 1000.0).abs() < 1e-6);
    let init_reported = record(&captured, "platform.initReport");
    let init_report = init_reported
        .first()
        .expect("the environment reported the init");
    let init_duration = last(&points, "faas.init_duration");
    assert_eq!(init_duration.count, 1);
    assert!(
        (init_duration.value - f(init_report, &["metrics", "durationMs"]) / 1000.0).abs() < 1e-9
    );
    assert_eq!(
        last(&points, "aws.lambda.memory_size").value,
        256.0 * 1_048_576.0
    );
    assert_eq!(
        last(&points, "faas.invocations")
            .attributes
            .get("faas.trigger")
            .and_then(|v| v.as_str()),
        Some("http")
    );
    let skipped: BTreeMap<String, f64> = points
        .iter()
        .filter(|p| p.name == "otel_sidecar.telemetry_api.skipped")
        .map(|p| {
            let reason = p
                .attributes
                .get("reason")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            (reason.to_owned(), p.value)
        })
        .collect();
    assert_eq!(skipped.get("unknown_type"), Some(&1.0));

    // The log line, linked to its invocation.
    let logs = backend.logs();
    let records: Vec<_> = logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    let invocation_of = |r: &&&opentelemetry_proto::tonic::logs::v1::LogRecord| {
        testkit::otlp_view::attributes(&r.attributes)
            .get("faas.invocation_id")
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    let timed_out_logs: Vec<_> = records
        .iter()
        .filter(|r| invocation_of(r).as_deref() == Some("timed-out"))
        .collect();
    assert_eq!(timed_out_logs.len(), 1, "{records:#?}");
    assert_eq!(timed_out_logs[0].severity_text, "WARN");
    // The function's own line (its error: the only line it writes during an invocation), which
    // lambda-env delivers as a `function` record, linked to the invocation it was written in.
    let function_lines = record(&captured, "function");
    assert!(!function_lines.is_empty(), "the function logged");
    assert!(
        records
            .iter()
            .any(|r| invocation_of(&r).as_deref() == Some(error_id.as_str())
                && format!("{:?}", r.body).contains("deserialization")),
        "the function's error line linked to its invocation: {records:#?}"
    );
}
