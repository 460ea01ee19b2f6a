//! The real sidecar and the real function (`bootstrap`, reading a moto S3) under `lambda-simulator` with
//! its Telemetry API: a cold start, successful invocations, an unsampled one, an error, then SHUTDOWN. Asserted at the
//! decoding fake backend: Lambda's `Invocation` spans and the handler's spans form one tree per
//! invocation, the cold start's `Initialization` span sits beside the first one under `ColdStart`, and the `faas.*`
//! metrics equal what the simulator reported in its `platform.*` events.
//!
//! Work-arounds for lambda-simulator 0.2.0 (see docs/sidecar.md): it puts no `Parent` in the X-Ray
//! header it generates, so the test gives each invocation a header as Lambda writes it; it has no
//! timeouts and captures no function output, so a timed-out invocation and a function log line are
//! delivered to the sidecar's listener the way Lambda delivers batches (HTTP POST of a JSON array).

use lambda_simulator::{Invocation, InvocationStatus, ShutdownReason, Simulator, TelemetryEvent};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::otlp_view::{FlatMetricPoint, FlatSpan, metric_points, spans};
use testkit::{FakeOtlpBackend, MotoServer};

const GET_ROOT: &str = include_str!("../../deploy/events/get-root.json");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

async fn complete(simulator: &Simulator, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let finished = simulator.get_invocation_state(id).await.is_some_and(|s| {
            matches!(
                s.status,
                InvocationStatus::Success | InvocationStatus::Error | InvocationStatus::Timeout
            )
        });
        if finished && simulator.are_extensions_ready(id).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "invocation {id} did not complete"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn record(events: &[TelemetryEvent], kind: &str) -> Vec<serde_json::Value> {
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
    let simulator = Simulator::builder()
        .function_name("aws-rust-http-api-test")
        .memory_size_mb(256)
        .region("eu-west-1")
        .account_id("123456789012")
        .extension_ready_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("simulator");
    simulator.enable_telemetry_capture().await;

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
    let sidecar_log = dir.path().join("sidecar.log");
    let sidecar = Killed(
        Command::new(testkit::release_binary("otel-sidecar").expect("otel-sidecar"))
            .envs(simulator.lambda_env_vars())
            .env("OTEL_SIDECAR_CONFIG", &config)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint())
            .env("OTEL_SIDECAR_LOG_FORMAT", "text")
            .env("OTEL_SIDECAR_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&sidecar_log).expect("log file"))
            .spawn()
            .expect("spawn otel-sidecar"),
    );
    let log = || std::fs::read_to_string(&sidecar_log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let extensions = simulator.get_registered_extensions().await;
        if let Some(extension) = extensions.first()
            && simulator.first_next_poll_at(&extension.id).await.is_some()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sidecar did not register:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        log().contains("subscribed to the Telemetry API"),
        "{}",
        log()
    );

    let _function = Killed(
        Command::new(testkit::release_binary("bootstrap").expect("bootstrap"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(simulator.lambda_env_vars())
            .env(
                "OTEL_SIDECAR_ENDPOINT",
                format!("http://127.0.0.1:{receiver}"),
            )
            .env("OTEL_SERVICE_NAME", "aws-rust-http-api")
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn bootstrap"),
    );

    // Three API Gateway requests with the X-Ray header Lambda writes, then an event the function
    // cannot read (lambda_http reports an invocation error).
    let event: serde_json::Value = serde_json::from_str(GET_ROOT).expect("event");
    let mut expected = Vec::new();
    for n in 0..3 {
        let (header, trace, parent) = xray_header(n);
        let mut invocation = Invocation::new(event.clone(), 10_000);
        invocation.trace_id = header;
        let id = simulator.enqueue(invocation).await;
        complete(&simulator, &id).await;
        expected.push((id, trace, parent));
    }
    // A caller that does not sample: no SERVER span, the handler signals the end explicitly.
    let mut unsampled_event = event.clone();
    unsampled_event["headers"]["traceparent"] =
        serde_json::json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    let unsampled_id = simulator
        .enqueue(Invocation::new(unsampled_event, 10_000))
        .await;
    complete(&simulator, &unsampled_id).await;
    let error_id = simulator
        .enqueue(Invocation::new(
            serde_json::json!({"not": "an HTTP event"}),
            10_000,
        ))
        .await;
    complete(&simulator, &error_id).await;
    let reports_expected = 5;
    let deadline = Instant::now() + Duration::from_secs(10);
    while simulator
        .get_telemetry_events_by_type("platform.report")
        .await
        .len()
        < reports_expected
    {
        assert!(Instant::now() < deadline, "simulator reports");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A timed-out invocation with a log line, delivered as Lambda delivers batches.
    let now = chrono::Utc::now();
    let at = |ms: i64| (now + chrono::Duration::milliseconds(ms)).to_rfc3339();
    let batch = serde_json::json!([
        {"time": at(0), "type": "platform.start", "record": {"requestId": "timed-out"}},
        {"time": at(1), "type": "function", "record": "{\"level\":\"WARN\",\"message\":\"still waiting\"}"},
        {"time": at(3000), "type": "platform.runtimeDone", "record": {"requestId": "timed-out", "status": "timeout", "errorType": "Sandbox.Timedout", "metrics": {"durationMs": 3000.0}}},
        {"time": at(3001), "type": "platform.report", "record": {"requestId": "timed-out", "status": "timeout", "metrics": {"durationMs": 3001.0, "billedDurationMs": 3001, "memorySizeMB": 256, "maxMemoryUsedMB": 64}}},
        {"time": at(3002), "type": "platform.aFutureEvent", "record": {}}
    ]);
    let delivered = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{listener}/"))
        .json(&batch)
        .send()
        .await
        .expect("deliver");
    assert_eq!(
        delivered.status(),
        200,
        "one unknown record never fails a batch"
    );

    let captured = simulator.get_telemetry_events().await;
    simulator.graceful_shutdown(ShutdownReason::Spindown).await;
    let mut sidecar = sidecar;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(status)) = sidecar.0.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sidecar did not exit:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(status.success(), "{status}\n{}", log());

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
        "5 simulated + 1 timed out"
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
        .expect("the simulator reported the init");
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
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].severity_text, "WARN");
    let invocation_id = testkit::otlp_view::attributes(&records[0].attributes);
    assert_eq!(
        invocation_id
            .get("faas.invocation_id")
            .and_then(|v| v.as_str()),
        Some("timed-out")
    );
}
