//! The Telemetry API: subscriptions validated as Lambda does and closed after init, events buffered
//! from init start (a subscriber made during init gets `platform.initStart`), batches POSTed no
//! earlier than `timeoutMs` after their first event, function output delivered as `function` records.

// Test code: a failed unwrap in a helper fails the test that called it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{config, extension, runtime, wait_lines};
use lambda_env::{Invoke, Sandbox, ShutdownReason};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT_MS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_start_at_init_and_leave_no_earlier_than_their_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(
        config().runtime(runtime()).extension(
            extension(&dir, "listener")
                .env("FIXTURE_TELEMETRY_TIMEOUT_MS", TIMEOUT_MS.to_string())
                .env("FIXTURE_SHUTDOWN_MS", "100"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_lines(&sandbox, "listener", "subscribed", 1).await[0],
        "subscribed 200"
    );
    for _ in 0..3 {
        sandbox.run(Invoke::json(&json!({}))).await.unwrap();
    }
    sandbox
        .wait_for_records("platform.report", 3, Duration::from_secs(10))
        .await;
    // Frozen between invocations, the listener takes batches only while thawed, as in Lambda; the
    // shutdown thaws it and flushes what is left before SHUTDOWN.
    sandbox.shutdown(ShutdownReason::Spindown).await;
    let batches = wait_lines(&sandbox, "listener", "batch", 1).await;
    let deliveries = sandbox.deliveries();
    assert!(!deliveries.is_empty());
    assert!(
        deliveries.iter().all(|d| d.result == Ok(200)),
        "{deliveries:#?}"
    );
    let delivered: Vec<&str> = deliveries
        .iter()
        .flat_map(|d| d.types.iter().map(String::as_str))
        .collect();
    assert_eq!(
        delivered[0], "platform.initStart",
        "subscribed during init, got init from its start: {delivered:?}"
    );
    for kind in [
        "platform.runtimeDone",
        "platform.report",
        "function",
        "platform.telemetrySubscription",
    ] {
        assert!(delivered.contains(&kind), "{kind} in {delivered:?}");
    }
    assert_eq!(
        delivered
            .iter()
            .filter(|t| **t == "platform.report")
            .count(),
        3
    );
    assert!(
        !delivered.contains(&"extension"),
        "not subscribed to the extension stream"
    );
    // Batching: none of these fills a batch, so each left on its timer, timeoutMs after its first
    // event at the earliest (the shutdown's flush is the exception: the last batch).
    for d in &deliveries[..deliveries.len() - 1] {
        let waited = d.sent_at.duration_since(d.first_event_at);
        assert!(
            waited >= Duration::from_millis(TIMEOUT_MS),
            "{waited:?} {d:?}"
        );
    }
    assert!(batches[0].contains("platform.initStart"), "{batches:?}");
}

async fn put(client: &reqwest::Client, api: &str, id: &str, body: Value) -> (u16, Value) {
    let response = client
        .put(format!("{api}/2022-07-01/telemetry"))
        .header("Lambda-Extension-Identifier", id)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn subscription(buffering: Value, uri: &str) -> Value {
    json!({
        "schemaVersion": "2022-12-13",
        "types": ["platform"],
        "buffering": buffering,
        "destination": {"protocol": "HTTP", "URI": uri},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_registrations_are_validated_and_close_after_init() {
    let sandbox = Sandbox::start(config()).await.unwrap();
    let api = sandbox.runtime_api_url();
    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{api}/2020-01-01/extension/register"))
        .header("Lambda-Extension-Name", "probe")
        .body(r#"{"events":["INVOKE"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let id = registered.headers()["Lambda-Extension-Identifier"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = registered.json().await.unwrap();
    assert_eq!(
        body,
        json!({"functionName": "lambda-env-test", "functionVersion": "$LATEST", "handler": "bootstrap"})
    );

    let good = "http://sandbox.localdomain:4999/";
    for (buffering, uri) in [
        (json!({"timeoutMs": 24}), good),
        (json!({"maxItems": 999}), good),
        (json!({"maxBytes": 2_000_000}), good),
        (json!({}), "http://127.0.0.1:4999/"),
    ] {
        let (status, error) = put(&client, &api, &id, subscription(buffering.clone(), uri)).await;
        assert_eq!(
            (status, error["errorType"].as_str()),
            (400, Some("ValidationError")),
            "{buffering} {uri}"
        );
    }
    let (status, error) = put(&client, &api, "no-such-id", subscription(json!({}), good)).await;
    assert_eq!(
        (status, error["errorType"].as_str()),
        (403, Some("Extension.UnknownExtensionIdentifier"))
    );
    assert_eq!(
        put(
            &client,
            &api,
            &id,
            subscription(json!({"timeoutMs": 25}), good)
        )
        .await
        .0,
        200
    );

    // Init ends when the runtime and the extension wait in next.
    let next = client
        .get(format!("{api}/2018-06-01/runtime/invocation/next"))
        .send();
    let runtime = tokio::spawn(next);
    let ext_next = client
        .get(format!("{api}/2020-01-01/extension/event/next"))
        .header("Lambda-Extension-Identifier", &id)
        .send();
    let extension = tokio::spawn(ext_next);
    sandbox.wait_initialized().await.unwrap();
    let (status, error) = put(&client, &api, &id, subscription(json!({}), good)).await;
    assert_eq!(
        (status, error["errorType"].as_str()),
        (403, Some("Telemetry.SubscriptionClosed"))
    );
    let late = client
        .post(format!("{api}/2020-01-01/extension/register"))
        .header("Lambda-Extension-Name", "late")
        .body(r#"{"events":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 403);
    let missing = client
        .get(format!("{api}/2020-01-01/extension/event/next"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    runtime.abort();
    extension.abort();
}
