//! The real sidecar against a failing backend: down for a while then back (nothing lost, nothing
//! duplicated, no drops below the cap), down long enough to overflow the cap (the oldest data dropped and
//! counted exactly), and hanging (each invocation delayed by at most the configured bound).

mod common;

use common::{Options, Sandbox, Work};
use std::time::Duration;
use testkit::Behaviour;

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
    assert!(
        finished.exit_after < Duration::from_secs(3),
        "exit within the SHUTDOWN deadline, took {:?}",
        finished.exit_after
    );
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
