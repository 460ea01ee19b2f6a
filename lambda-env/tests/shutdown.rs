//! SHUTDOWN as rapid's shutdown.go: SIGTERM to the runtime (SIGKILL at 30 % of the budget), then the
//! SHUTDOWN event with deadlineMs and shutdownReason to the extensions, waiting for them to exit up
//! to the deadline, SIGKILL after it; the caller learns how and when each process ended.

mod common;

use common::{config, extension, runtime, wait_lines};
use lambda_env::{Invoke, Sandbox, ShutdownReason};
use nix::sys::signal::Signal;
use serde_json::json;
use std::os::unix::process::ExitStatusExt as _;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_terminates_the_runtime_first_then_gives_extensions_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(
        config()
            .runtime(runtime().env("FIXTURE_IGNORE_SIGTERM", "1"))
            .extension(extension(&dir, "tidy").env("FIXTURE_SHUTDOWN_MS", "300"))
            .extension(extension(&dir, "stuck").env("FIXTURE_NEVER_EXIT", "1")),
    )
    .await
    .unwrap();
    sandbox.run(Invoke::json(&json!({}))).await.unwrap();
    assert!(sandbox.is_frozen());
    let report = sandbox.shutdown(ShutdownReason::Spindown).await;
    assert_eq!(report.budget, Duration::from_secs(2));

    // The runtime ignored SIGTERM: SIGKILL at 30 % of the budget (600 ms).
    let runtime = report.process("bootstrap").unwrap();
    assert!(runtime.killed);
    assert_eq!(
        runtime.status.unwrap().signal(),
        Some(Signal::SIGKILL as i32)
    );
    let runtime_after = runtime.after.unwrap();
    assert!(
        runtime_after >= Duration::from_millis(600),
        "{runtime_after:?}"
    );

    // The tidy extension got SHUTDOWN after the runtime was gone and exited by itself.
    let tidy = report.process("tidy").unwrap();
    assert!(!tidy.killed);
    assert!(tidy.status.unwrap().success());
    assert!(tidy.after.unwrap() >= runtime_after + Duration::from_millis(300));
    let line = &wait_lines(&sandbox, "tidy", "shutdown", 1).await[0];
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts[1], "spindown");
    let (deadline_ms, got_ms): (i64, i64) = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
    // The deadline is 2 s from the start and SHUTDOWN came after the runtime's 600 ms (+1 ms of
    // rounding to whole milliseconds); no lower bound: a loaded machine may run the extension late.
    let left = deadline_ms - got_ms;
    assert!(
        left <= 1401,
        "SHUTDOWN before the runtime's share ran out: {left} ms left"
    );

    // The stuck one: SIGKILL at the deadline.
    let stuck = report.process("stuck").unwrap();
    assert!(stuck.killed);
    assert_eq!(stuck.status.unwrap().signal(), Some(Signal::SIGKILL as i32));
    assert!(stuck.after.unwrap() >= Duration::from_secs(2));
    assert!(sandbox.pids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_extensions_the_runtime_is_killed_at_once() {
    let sandbox = Sandbox::start(config().runtime(runtime())).await.unwrap();
    let report = sandbox.shutdown(ShutdownReason::Spindown).await;
    let runtime = report.process("bootstrap").unwrap();
    assert!(
        runtime.killed,
        "rapid: no graceful shutdown without extensions"
    );
    assert_eq!(
        runtime.status.unwrap().signal(),
        Some(Signal::SIGKILL as i32)
    );
    assert!(
        sandbox.run(Invoke::json(&json!({}))).await.is_err(),
        "shut down"
    );
}
