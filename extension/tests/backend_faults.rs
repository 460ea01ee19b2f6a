//! The real sidecar against a failing backend: down for a while then back (nothing lost, nothing
//! duplicated, no drops below the cap), down long enough to overflow the cap (the oldest data dropped and
//! counted exactly), and hanging (each invocation delayed by at most the configured bound).

mod common;

use common::{Options, Sandbox, Work};
use std::time::Duration;
use testkit::Behaviour;

/// The sidecar's default `flush.shutdown_margin_ms`.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(300);

/// The sidecar exited by itself before Lambda's SHUTDOWN deadline: lambda-env SIGKILLs at the deadline as
/// Lambda does (`Sandbox::shutdown` asserts it did not have to), and the sidecar planned its flush to end
/// a margin before it. Both hold on a loaded machine: the first has the whole margin (300 ms) for the
/// process to exit, the second is arithmetic on the deadline (lambda-env's shutdown starts before the
/// sidecar reads its clock, so the budget can only come out smaller). The margin's exact timing is
/// tested in paused time (`lifecycle::controller` tests).
fn assert_exited_before_lambdas_deadline(finished: &common::Finished) {
    assert!(
        finished.exit_after < finished.budget,
        "exited {:?} after SHUTDOWN began, deadline {:?}",
        finished.exit_after,
        finished.budget
    );
    let planned = finished.shutdown_flush_budget();
    assert!(
        planned <= finished.budget - SHUTDOWN_MARGIN,
        "the sidecar planned to flush for {planned:?} of Lambda's {:?}",
        finished.budget
    );
}

const FAST_RETRIES: &str =
    "exporter:\n  retry: { max_attempts: 2, initial_backoff_ms: 5, max_backoff_ms: 20 }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sent_while_the_backend_is_down_is_delivered_once_it_is_back() {
    let sandbox = Sandbox::with_config(format!("flush: {{ mode: end }}\n{FAST_RETRIES}")).await;
    let work = Work::default();
    sandbox.backend().set_behaviour(Behaviour::Fail {
        status: 503,
        retry_after: None,
    });
    let mut expected = sandbox.invoke_times(5, &work).await;
    assert!(sandbox.backend().traces().is_empty());
    assert!(sandbox.backend().requests().iter().any(|r| r.status == 503));
    sandbox.backend().set_behaviour(Behaviour::Accept);
    expected.extend(sandbox.invoke_times(3, &work).await);
    let finished = sandbox.shutdown_cleanly().await;
    finished.assert_delivered_once(&expected);
    assert_eq!(
        finished.self_metric("otel_sidecar.dropped", "traces"),
        Some(0.0)
    );
    assert!(
        !finished.stderr.contains("buffer full"),
        "{}",
        finished.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_the_oldest_data_is_dropped_and_counted_exactly() {
    let config = format!(
        "flush: {{ mode: end }}\nlimits: {{ max_buffer_bytes: 6000, max_request_bytes: 2048 }}\n{FAST_RETRIES}"
    );
    let sandbox = Sandbox::with_config(config).await;
    let work = Work::default();
    let mut invocations = Vec::new();
    sandbox.backend().set_behaviour(Behaviour::Fail {
        status: 429,
        retry_after: Some(0),
    });
    for _ in 0..30 {
        invocations.push(sandbox.invoke(&work).await.0);
    }
    sandbox.backend().set_behaviour(Behaviour::Accept);
    for _ in 0..2 {
        invocations.push(sandbox.invoke(&work).await.0);
    }
    let finished = sandbox.shutdown_cleanly().await;
    let counts = finished.span_counts();
    assert!(counts.values().all(|&n| n == 1), "duplicates: {counts:?}");
    let emitted = invocations.len() * (work.spans + 1);
    let dropped = finished
        .self_metric("otel_sidecar.dropped", "traces")
        .expect("dropped metric exported") as usize;
    assert!(
        dropped > 0,
        "the cap was exceeded, so something was dropped"
    );
    assert_eq!(
        counts.len() + dropped,
        emitted,
        "every span is either delivered or counted as dropped"
    );
    // What was dropped is the oldest: once an invocation's root span is delivered, all later ones are too.
    let delivered: Vec<bool> = invocations
        .iter()
        .map(|id| counts.contains_key(&format!("root-{id}")))
        .collect();
    let first = delivered
        .iter()
        .position(|d| *d)
        .expect("recent data delivered");
    assert!(
        delivered[first..].iter().all(|d| *d),
        "drops are not oldest-first: {delivered:?}"
    );
    assert!(
        finished.stderr.contains("buffer full"),
        "drops are logged:\n{}",
        finished.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_backend_delays_each_invocation_by_at_most_the_bound() {
    let max_delay = Duration::from_millis(200);
    let config = format!(
        "flush: {{ mode: end, max_delay_ms: {} }}\n",
        max_delay.as_millis()
    );
    let env = vec![("OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(), "60000".to_owned())];
    let sandbox = Sandbox::start(Options {
        config,
        env,
        ..Options::default()
    })
    .await;
    sandbox.backend().set_behaviour(Behaviour::Hang);
    for _ in 0..3 {
        let (_, overhead) = sandbox.invoke(&Work::default()).await;
        // Generous slack for a loaded CI machine; the bug this catches is waiting for the 60 s timeout.
        assert!(
            overhead < max_delay + Duration::from_millis(1500),
            "invocation held for {overhead:?}"
        );
    }
    assert!(
        !sandbox.backend().requests().is_empty(),
        "the backend was reached"
    );
    let finished = sandbox.shutdown_cleanly().await;
    assert_exited_before_lambdas_deadline(&finished);
    assert!(
        finished.stderr.contains("still running at the delay bound"),
        "{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("not delivered"),
        "{}",
        finished.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_shutdown_a_failing_backend_is_retried_until_the_margin_and_the_sidecar_exits_in_time() {
    // Retries that would outlast the deadline many times over: only the sidecar's deadline stops them.
    let config = "flush: { mode: end }\nexporter:\n  retry: { max_attempts: 1000, initial_backoff_ms: 10, max_backoff_ms: 10 }\n";
    let sandbox = Sandbox::with_config(config).await;
    sandbox.backend().set_behaviour(Behaviour::Fail {
        status: 503,
        retry_after: None,
    });
    sandbox.invoke(&Work::default()).await;
    let before = sandbox.backend().requests().len();
    let finished = sandbox.shutdown_cleanly().await;
    assert_exited_before_lambdas_deadline(&finished);
    assert!(
        finished.backend().requests().len() > before + 10,
        "kept retrying at SHUTDOWN: {} requests before, {} after",
        before,
        finished.backend().requests().len()
    );
    assert!(
        finished.stderr.contains("not delivered"),
        "the loss is logged:\n{}",
        finished.stderr
    );
}
