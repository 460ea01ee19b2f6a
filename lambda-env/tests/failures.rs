//! Errors, timeouts and crashes as rapid handles them: `/error` is an answer (the sandbox goes on),
//! a passed deadline or a dead process ends in `runtimeDone` with status timeout / error, a reset
//! (SHUTDOWN with that reason to the extensions) and a cold start at the next invocation.

mod common;

use common::{config, extension, runtime, wait_lines};
use lambda_env::{Invoke, Outcome, Sandbox, ShutdownReason};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_is_reported_and_the_sandbox_stays_warm() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(
        config()
            .runtime(runtime())
            .extension(extension(&dir, "ext")),
    )
    .await
    .unwrap();
    let failed = sandbox
        .run(Invoke::json(&json!({"error": true})))
        .await
        .unwrap();
    let Outcome::FunctionError { error_type, body } = &failed.outcome else {
        panic!("{:?}", failed.outcome)
    };
    assert_eq!(error_type, "Function.Test");
    assert_eq!(
        body.as_ref(),
        br#"{"errorType":"Test","errorMessage":"asked to fail"}"#
    );
    assert_eq!(failed.runtime_done["status"], "error");
    assert_eq!(failed.runtime_done["errorType"], "Function.Test");
    assert_eq!(failed.report["status"], "error");
    assert!(failed.reset.is_none());
    let next = sandbox.run(Invoke::json(&json!({}))).await.unwrap();
    assert!(!next.cold, "no reset after a function error");
    assert_eq!(next.runtime_done["status"], "success");
    sandbox.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_resets_the_sandbox_and_the_next_invocation_is_a_cold_start() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(lambda_env::Config {
        timeout: Duration::from_millis(800),
        ..config()
            .runtime(runtime())
            .extension(extension(&dir, "ext"))
    })
    .await
    .unwrap();
    let mut invocation = sandbox.invoke(Invoke::json(&json!({"work_ms": 60_000})));
    assert_eq!(invocation.response().await.unwrap(), Outcome::Timeout);
    let timed_out = invocation.finished().await.unwrap();
    assert_eq!(timed_out.outcome, Outcome::Timeout);
    assert_eq!(timed_out.runtime_done["status"], "timeout");
    assert!(
        timed_out.runtime_done.get("errorType").is_none(),
        "rapid handleReset: no errorType on timeout"
    );
    assert!(
        timed_out.runtime_done["metrics"]["durationMs"]
            .as_f64()
            .unwrap()
            >= 800.0
    );
    assert_eq!(timed_out.report["status"], "timeout");
    assert_eq!(
        timed_out.report["metrics"]["durationMs"].as_f64(),
        Some(800.0)
    );
    let reset = timed_out.reset.as_ref().expect("a reset");
    assert_eq!(reset.reason, ShutdownReason::Timeout);
    let runtime_end = reset.process("bootstrap").unwrap();
    assert!(runtime_end.status.is_some(), "{reset:?}");
    let ext_end = reset.process("ext").unwrap();
    assert!(
        ext_end.status.unwrap().success(),
        "the extension exits on SHUTDOWN: {reset:?}"
    );
    let shutdown = wait_lines(&sandbox, "ext", "shutdown", 1).await;
    assert!(shutdown[0].starts_with("shutdown timeout "), "{shutdown:?}");
    let kinds: Vec<String> = sandbox
        .events()
        .into_iter()
        .filter(|e| e.event_type.starts_with("platform."))
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["platform.start", "platform.runtimeDone", "platform.report"]
    );

    let cold = sandbox.run(Invoke::json(&json!({}))).await.unwrap();
    assert!(cold.cold);
    assert!(cold.report["metrics"]["initDurationMs"].as_f64().is_some());
    let init_starts = sandbox.records("platform.initStart");
    assert_eq!(init_starts.len(), 2);
    assert_eq!(
        init_starts[1]["phase"], "invoke",
        "re-init inside the invoke, as rapid's doInvoke"
    );
    assert!(matches!(cold.outcome, Outcome::Response(_)));
    sandbox.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_crash_is_a_failure_with_a_reset() {
    let sandbox = Sandbox::start(config().runtime(runtime())).await.unwrap();
    let crashed = sandbox
        .run(Invoke::json(&json!({"crash": true})))
        .await
        .unwrap();
    let Outcome::Failure { error_type, .. } = &crashed.outcome else {
        panic!("{:?}", crashed.outcome)
    };
    assert_eq!(error_type, "Runtime.ExitError");
    assert_eq!(crashed.runtime_done["status"], "error");
    assert_eq!(crashed.runtime_done["errorType"], "Runtime.ExitError");
    assert_eq!(crashed.report["status"], "error");
    let ended = crashed
        .reset
        .as_ref()
        .unwrap()
        .process("bootstrap")
        .unwrap();
    assert_eq!(ended.status.and_then(|s| s.code()), Some(3));
    let again = sandbox.run(Invoke::json(&json!({}))).await.unwrap();
    assert!(again.cold);
    assert!(matches!(again.outcome, Outcome::Response(_)));
}
