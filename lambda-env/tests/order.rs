//! Lambda's order, which must never regress: `platform.runtimeDone` only once the runtime called
//! `next` again (not at its response), `platform.report` only once every extension called `next`,
//! and no freeze before all of them wait. The runtime and the extension are real processes
//! (`lambda-env-fixture`) speaking HTTP to the sandbox.

mod common;

use common::{config, extension, runtime, stamps, wait_lines};
use lambda_env::{Invoke, Outcome, Sandbox, ShutdownReason};
use serde_json::json;

const AFTER_RESPONSE_MS: u64 = 400;
/// Longer than the runtime's whole invocation: the extension calls `next` well after runtimeDone.
const EXTENSION_DELAY_MS: u64 = 900;

fn micros(event: &lambda_env::Event) -> i64 {
    event.time.timestamp_micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_done_waits_for_the_runtimes_next_and_report_and_freeze_for_every_extension() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(config().runtime(runtime()).extension(
        extension(&dir, "slow-ext").env("FIXTURE_DELAY_NEXT_MS", EXTENSION_DELAY_MS.to_string()),
    ))
    .await
    .unwrap();
    assert!(
        sandbox.is_frozen(),
        "frozen after init: everyone waits in next"
    );
    let finished = sandbox
        .run(Invoke::json(
            &json!({"sleep_after_response_ms": AFTER_RESPONSE_MS}),
        ))
        .await
        .unwrap();
    assert_eq!(
        finished.outcome.json(),
        Some(json!({"sleep_after_response_ms": AFTER_RESPONSE_MS}))
    );
    assert!(finished.cold);

    // The runtime's `next` after its response, and the extension's `next` after INVOKE.
    let runtime_nexts = {
        wait_lines(&sandbox, "bootstrap", "next", 2).await;
        stamps(&sandbox, "bootstrap", "next")
    };
    let responded = stamps(&sandbox, "bootstrap", "responded")[0];
    let runtime_next = runtime_nexts[1];
    assert!(runtime_next - responded >= AFTER_RESPONSE_MS as i64 * 1000);
    wait_lines(&sandbox, "slow-ext", "next", 2).await;
    let extension_next = stamps(&sandbox, "slow-ext", "next")[1];

    let events = sandbox.events();
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e.event_type == kind && e.request_id() == Some(&finished.request_id))
            .collect::<Vec<_>>()
    };
    let start = of("platform.start");
    let runtime_done = of("platform.runtimeDone");
    let report = of("platform.report");
    assert_eq!((start.len(), runtime_done.len(), report.len()), (1, 1, 1));
    assert!(
        micros(runtime_done[0]) >= runtime_next,
        "runtimeDone ({}) before the runtime's next ({runtime_next}): sent at the response?",
        runtime_done[0].time
    );
    let record = &runtime_done[0].record;
    assert_eq!(record["status"], "success");
    let duration = record["metrics"]["durationMs"].as_f64().unwrap();
    assert!(
        duration >= AFTER_RESPONSE_MS as f64,
        "durationMs {duration} covers the sleep after the response"
    );
    let spans = record["spans"].as_array().unwrap();
    let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        ["responseLatency", "responseDuration", "runtimeOverhead"]
    );
    let overhead = spans[2]["durationMs"].as_f64().unwrap();
    assert!(
        overhead >= AFTER_RESPONSE_MS as f64,
        "runtimeOverhead {overhead}"
    );
    assert_eq!(
        record["metrics"]["producedBytes"],
        json!({"sleep_after_response_ms": AFTER_RESPONSE_MS})
            .to_string()
            .len()
    );

    assert!(
        micros(report[0]) >= extension_next,
        "report ({}) before the extension's next ({extension_next})",
        report[0].time
    );
    assert!(
        extension_next > micros(runtime_done[0]),
        "the scenario: the extension is still busy after runtimeDone"
    );
    let metrics = &report[0].record["metrics"];
    assert!(metrics["durationMs"].as_f64().unwrap() >= EXTENSION_DELAY_MS as f64);
    assert!(
        metrics["initDurationMs"].as_f64().is_some(),
        "cold start: {metrics}"
    );
    assert_eq!(metrics["memorySizeMB"], 256);
    assert!(
        metrics["maxMemoryUsedMB"].as_u64().unwrap() >= 1,
        "real peak RSS: {metrics}"
    );
    assert_eq!(report[0].record["spans"][0]["name"], "extensionOverhead");
    assert_eq!(report[0].record["tracing"]["type"], "X-Amzn-Trace-Id");

    // Frozen only after both wait in next.
    let freezes = sandbox.freezes();
    let last = freezes.last().unwrap().timestamp_micros();
    assert!(
        last >= extension_next && last >= runtime_next,
        "froze at {last}"
    );
    assert!(sandbox.is_frozen());
    let (_, pid) = sandbox
        .pids()
        .into_iter()
        .find(|(n, _)| n == "slow-ext")
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(state, "T", "SIGSTOPped: {stat}");

    // A warm invocation thaws it; a fresh Parent each time.
    let second = sandbox.run(Invoke::json(&json!({}))).await.unwrap();
    assert!(!second.cold);
    assert!(second.report["metrics"].get("initDurationMs").is_none());
    let traces: Vec<String> = wait_lines(&sandbox, "bootstrap", "invoke", 2).await;
    assert!(traces.iter().all(|l| l.contains(";Parent=")), "{traces:?}");
    assert_ne!(finished.trace_header, second.trace_header);
    assert!(
        traces[0].contains("arn=arn:aws:lambda:us-east-1:123456789012:function:lambda-env-test")
    );
    let registered = &wait_lines(&sandbox, "slow-ext", "registered", 1).await[0];
    assert_eq!(
        registered,
        r#"registered 200 {"accountId":"123456789012","functionName":"lambda-env-test","functionVersion":"$LATEST","handler":"bootstrap"}"#
    );
    sandbox.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_run_runtime_gets_lambdas_headers_and_the_response_comes_before_runtime_done() {
    let sandbox = Sandbox::start(common::config()).await.unwrap();
    let api = sandbox.runtime_api_url();
    let client = reqwest::Client::new();
    let runtime = {
        let client = client.clone();
        tokio::spawn(async move {
            let next = client
                .get(format!("{api}/2018-06-01/runtime/invocation/next"))
                .send()
                .await
                .unwrap();
            let header = |n: &str| next.headers()[n].to_str().unwrap().to_owned();
            let (id, trace, deadline) = (
                header("Lambda-Runtime-Aws-Request-Id"),
                header("Lambda-Runtime-Trace-Id"),
                header("Lambda-Runtime-Deadline-Ms"),
            );
            let context = header("Lambda-Runtime-Client-Context");
            let body = next.bytes().await.unwrap();
            client
                .post(format!("{api}/2018-06-01/runtime/invocation/{id}/response"))
                .body(body)
                .send()
                .await
                .unwrap();
            // Hand-off time: runtimeDone must wait for the next `next`.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let again = client.get(format!("{api}/2018-06-01/runtime/invocation/next"));
            tokio::spawn(again.send());
            (trace, deadline, context)
        })
    };
    let mut invocation = sandbox.invoke(
        Invoke::json(&json!({"x": 1}))
            .trace_header(
                "Root=1-6745a1b2-3f1e2d3c4b5a69788796a5b4;Parent=1a2b3c4d5e6f7081;Sampled=1",
            )
            .client_context("{\"custom\":{}}"),
    );
    let response = invocation.response().await.unwrap();
    assert_eq!(
        response,
        Outcome::Response(bytes::Bytes::from(r#"{"x":1}"#))
    );
    assert!(
        sandbox.records("platform.runtimeDone").is_empty(),
        "not before the runtime's next"
    );
    let finished = invocation.finished().await.unwrap();
    let (trace, deadline, context) = runtime.await.unwrap();
    assert_eq!(
        trace,
        "Root=1-6745a1b2-3f1e2d3c4b5a69788796a5b4;Parent=1a2b3c4d5e6f7081;Sampled=1"
    );
    assert_eq!(context, "{\"custom\":{}}");
    assert!(deadline.parse::<i64>().unwrap() > chrono::Utc::now().timestamp_millis());
    assert_eq!(
        finished.runtime_done["tracing"]["spanId"],
        "1a2b3c4d5e6f7081"
    );
    assert!(
        finished.runtime_done["metrics"]["durationMs"]
            .as_f64()
            .unwrap()
            >= 200.0
    );
    let kinds: Vec<String> = sandbox.events().into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        [
            "platform.initStart",
            "platform.initRuntimeDone",
            "platform.initReport",
            "platform.start",
            "platform.runtimeDone",
            "platform.report"
        ]
    );
}
