//! The `docker run` path without Docker: AWS's own Runtime Interface Emulator (what
//! `public.ecr.aws/lambda/provided:al2023` runs as its entry point, built from the same core as
//! Lambda) with the release `bootstrap` at `/var/runtime/bootstrap` and the release `otel-sidecar` at
//! `/opt/extensions/otel-sidecar` with `/opt/otel-config.yaml`, as the Dockerfile lays them out (in
//! a private mount namespace: testkit::rie). S3 is moto; the sidecar exports to a real
//! OpenTelemetry Collector. Invocations go exactly where README's `docker run` section sends them.

mod common;

use common::s3_client;
use serde_json::{Value, json};
use sidecar_contract::INVOCATION_ID_ATTRIBUTE;
use std::collections::BTreeMap;
use std::time::Duration;
use testkit::otlp_view::{metric_points, spans};
use testkit::{Collector, CollectorOptions, MotoServer, Received, RieOptions, RieSandbox};

const BUCKETS: [&str; 3] = ["demo-backups", "demo-invoices", "demo-photos"];
const SERVER: i32 = 2;

/// The sandbox, its S3 and its backend.
struct Stack {
    sandbox: RieSandbox,
    collector: Collector,
    _moto: MotoServer,
}

async fn start_stack() -> Stack {
    let moto = MotoServer::start().expect("moto");
    let s3 = s3_client(&moto.endpoint());
    for bucket in BUCKETS {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
    }
    let collector =
        Collector::start(&CollectorOptions::default()).expect("OpenTelemetry Collector");
    let receiver = testkit::moto::free_port().expect("port");
    let telemetry = testkit::moto::free_port().expect("port");
    let config = testkit::rie::shipped_otel_config(receiver, telemetry).expect("otel-config.yaml");
    // What README's `docker run` passes (-e AWS_REGION and credentials), plus the local S3, the
    // backend, and where the function finds the sidecar's moved receiver.
    let env = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "test-session-token".into()),
        ("AWS_ENDPOINT_URL_S3", moto.endpoint()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        (
            "OTEL_SIDECAR_ENDPOINT",
            format!("http://127.0.0.1:{receiver}"),
        ),
    ];
    let options = RieOptions::image(config, &env).expect("release binaries");
    let sandbox = RieSandbox::start(&options).expect("Runtime Interface Emulator");
    Stack {
        sandbox,
        collector,
        _moto: moto,
    }
}

/// `curl -s URL -d @file` with the event file's bytes: a POST, form content type, as curl sends
/// it. `request_id` goes in `X-Amzn-RequestId`, which the emulator uses as the invocation's id.
async fn invoke(sandbox: &RieSandbox, event: &[u8], request_id: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(sandbox.invocations_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Amzn-RequestId", request_id)
        .body(event.to_vec())
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("invoke");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("the emulator's answer");
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

fn deploy_event(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../deploy/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("event file")
}

/// The API Gateway response inside the emulator's answer: status and parsed body.
fn api_response(answer: &Value) -> (u64, Value) {
    let status = answer["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("no statusCode: {answer}"));
    let body =
        serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    (status, body)
}

/// Server spans written by the collector, by invocation id, with how often each was written.
fn server_spans(collector: &Collector) -> BTreeMap<String, (String, usize)> {
    let traces: Vec<_> = collector
        .received()
        .expect("collector output")
        .into_iter()
        .filter_map(Received::into_traces)
        .collect();
    let mut out: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for span in spans(&traces).into_iter().filter(|s| s.kind == SERVER) {
        if let Some(id) = span.attr_str(INVOCATION_ID_ATTRIBUTE) {
            out.entry(id.to_string())
                .or_insert((span.name.clone(), 0))
                .1 += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_run_path_answers_every_route_and_sigterm_exports_everything_buffered() {
    let mut stack = start_stack().await;
    let sandbox = &stack.sandbox;

    // README: curl -s http://127.0.0.1:9000/2015-03-31/functions/function/invocations -d @deploy/events/get-root.json
    let (status, answer) = invoke(sandbox, &deploy_event("get-root.json"), "rie-root-1").await;
    assert_eq!(status, 200, "{answer}");
    let (code, body) = api_response(&answer);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(body["buckets"], json!(BUCKETS));

    // docs/deploy.md: the same with get-private.json (the identity block API Gateway adds).
    let (status, answer) =
        invoke(sandbox, &deploy_event("get-private.json"), "rie-private-1").await;
    assert_eq!(status, 200, "{answer}");
    let (code, body) = api_response(&answer);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        body["caller"]["cognitoIdentity"]["identityId"],
        "us-east-1:00000000-0000-4000-8000-00000000000a"
    );

    // An unknown route: the function's own 404 (API Gateway would not route it; the emulator does not care).
    let mut unknown: Value = serde_json::from_slice(&deploy_event("get-root.json")).expect("JSON");
    unknown["rawPath"] = json!("/nope");
    unknown["routeKey"] = json!("$default");
    unknown["requestContext"]["http"]["path"] = json!("/nope");
    let (status, answer) = invoke(sandbox, unknown.to_string().as_bytes(), "rie-unknown-1").await;
    assert_eq!(
        status, 200,
        "the emulator answers 200 whatever the function's HTTP status: {answer}"
    );
    let (code, body) = api_response(&answer);
    assert_eq!(code, 404, "{answer}");
    assert_eq!(body["error"]["code"], "NotFound");

    // Two more in quick succession: the shipped `adaptive` flush mode turns `continuous` once
    // invocations come often (after 3, closer than 60 s), so these stay in the sidecar's buffer
    // (for up to flush.interval_ms, 20 s) until the next thaw or SHUTDOWN.
    for id in ["rie-root-2", "rie-root-3"] {
        let (status, answer) = invoke(sandbox, &deploy_event("get-root.json"), id).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(api_response(&answer).0, 200);
    }
    let ids = [
        "rie-root-1",
        "rie-private-1",
        "rie-unknown-1",
        "rie-root-2",
        "rie-root-3",
    ];
    let before = server_spans(&stack.collector);
    assert!(
        ids.iter().any(|id| !before.contains_key(*id)),
        "the last invocations' spans should still be buffered before SIGTERM (adaptive mode): {before:?}"
    );

    // `docker stop`: SIGTERM to the emulator. It runs Lambda's shutdown: SIGTERM to the runtime,
    // then SHUTDOWN to the extension, which exports what it holds, then exits. The emulator's
    // budget for all of it is 2 s (rapidcore/sandbox_builder.go, defaultSigtermResetTimeoutMs);
    // 10 s only bounds a hang.
    let status = stack
        .sandbox
        .terminate(Duration::from_secs(10))
        .expect("emulator exits");
    assert!(status.success(), "emulator exit status {status}");
    let output = stack.sandbox.output();
    let joined = output.join("\n");

    // Everything exported exactly once, each span under its invocation id. The collector's file
    // exporter writes on a 5 ms tick, which a loaded machine delays: read until every invocation is
    // there (bounded), then compare, duplicates included.
    let mut after = server_spans(&stack.collector);
    for _ in 0..250 {
        if after.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = server_spans(&stack.collector);
    }
    let expected: BTreeMap<String, (String, usize)> = [
        ("rie-root-1", "GET /"),
        ("rie-private-1", "GET /private"),
        ("rie-unknown-1", "GET"),
        ("rie-root-2", "GET /"),
        ("rie-root-3", "GET /"),
    ]
    .into_iter()
    .map(|(id, name)| (id.to_string(), (name.to_string(), 1)))
    .collect();
    assert_eq!(
        after, expected,
        "server spans written by the collector\n{joined}"
    );
    let metrics: Vec<_> = stack
        .collector
        .received()
        .expect("collector output")
        .into_iter()
        .filter_map(Received::into_metrics)
        .collect();
    assert!(
        metric_points(&metrics)
            .iter()
            .any(|p| p.name == "http.server.request.duration" && p.count > 0),
        "the function's request metric reached the collector"
    );

    // The sidecar registered and said once that there is no Telemetry API.
    assert!(
        output
            .iter()
            .any(|l| l.contains("registered") && l.contains("otel-sidecar")),
        "the sidecar registered:\n{joined}"
    );
    let no_api: Vec<_> = output
        .iter()
        .filter(|l| l.contains("no Telemetry API"))
        .collect();
    assert_eq!(no_api.len(), 1, "one `no Telemetry API` line:\n{joined}");
    // Shutdown order, as rapid/shutdown.go (shutdown: shutdownRuntime, then shutdownAgents) runs it:
    // the runtime's SIGTERM flush happens before the extension's SHUTDOWN handling. The two processes
    // write to different pipes, so their own timestamps tell the order, not the order of the lines.
    let logged_at = |needle: &str| {
        let line = output
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line containing {needle:?}:\n{joined}"));
        timestamp(line).unwrap_or_else(|| panic!("no timestamp in {line:?}"))
    };
    assert!(
        logged_at("SIGTERM: flushing telemetry") < logged_at("shutdown: flushing"),
        "{joined}"
    );
    assert!(logged_at("shutdown: flushing") <= logged_at("shutdown: everything exported"));
}

/// The time a log line was written: the `timestamp` of a JSON line (the sidecar's), else its first
/// word (the function's text lines start with an RFC 3339 time).
fn timestamp(line: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let text = match serde_json::from_str::<Value>(line) {
        Ok(json) => json["timestamp"].as_str()?.to_string(),
        Err(_) => line.split_whitespace().next()?.to_string(),
    };
    chrono::DateTime::parse_from_rfc3339(&text).ok()
}
