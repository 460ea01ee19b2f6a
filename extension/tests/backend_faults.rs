//! The real sidecar against a failing backend: down for a while then back (nothing lost, nothing
//! duplicated, no drops below the cap), failing one request in the middle of an export (the rest kept,
//! then delivered once), refusing data for good (dropped, counted in `otel_sidecar.rejected`), down long
//! enough to overflow the cap (the oldest data dropped and counted exactly), hanging (each invocation
//! delayed by at most the configured bound), and at SHUTDOWN (exit before Lambda's deadline).

mod common;

use common::{Options, Sandbox, Work, expected_spans};
use std::collections::VecDeque;
use std::time::Duration;
use testkit::{Behaviour, FakeOtlpBackend};

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
        // The bound's exact value is tested in paused time (`lifecycle::controller` tests:
        // `a_hanging_backend_holds_next_for_exactly_the_delay_bound_each_time`). Here, with real
        // processes on a possibly loaded machine, what is ruled out is waiting for the export's own
        // 60 s timeout: 10 times the bound (2 s) is far from both.
        assert!(
            overhead < max_delay * 10,
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

/// A sandbox whose sidecar sends traces to the harness's backend and metrics to the returned one, so
/// that what a test makes the traces backend do happens to trace requests alone (in their order).
async fn traces_apart(config: &str) -> (Sandbox, FakeOtlpBackend) {
    let metrics = FakeOtlpBackend::start()
        .await
        .expect("the metrics backend starts");
    let env = vec![(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT".to_owned(),
        format!("{}/v1/metrics", metrics.endpoint()),
    )];
    let sandbox = Sandbox::start(Options {
        config: config.to_owned(),
        env,
        ..Options::default()
    })
    .await;
    (sandbox, metrics)
}

/// Trace requests the backend has seen (any status).
fn trace_requests(backend: &FakeOtlpBackend) -> Vec<u16> {
    backend
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .map(|r| r.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_one_failed_request_the_rest_of_the_export_is_kept_and_delivered_once() {
    // One attempt per request, so the failure is not hidden by an immediate retry; requests of about
    // two invocations each, so one export is several requests.
    let config = "flush: { mode: end }\nlimits: { max_request_bytes: 2048 }\nexporter:\n  retry: { max_attempts: 1 }\n";
    let (sandbox, metrics) = traces_apart(config).await;
    let work = Work {
        spans: 8,
        ..Work::default()
    };
    sandbox.backend().set_behaviour(Behaviour::Fail {
        status: 503,
        retry_after: None,
    });
    let mut expected = sandbox.invoke_times(6, &work).await;
    assert!(sandbox.backend().traces().is_empty());

    // The next export: its first request accepted, its second failed.
    sandbox
        .backend()
        .set_behaviour(Behaviour::Sequence(VecDeque::from([
            Behaviour::Accept,
            Behaviour::Fail {
                status: 503,
                retry_after: None,
            },
        ])));
    let before = trace_requests(sandbox.backend()).len();
    expected.extend(sandbox.invoke_times(1, &work).await);
    let during = trace_requests(sandbox.backend())[before..].to_vec();
    assert_eq!(
        during,
        [200, 503],
        "after the failure the rest is kept, not sent on"
    );
    let delivered = common::span_counts(sandbox.backend());
    assert!(
        !delivered.is_empty() && delivered.len() < expected.len(),
        "part delivered, the rest still buffered: {} of {}",
        delivered.len(),
        expected.len()
    );

    // Accepting again: the rest goes out with the next flush, nothing twice.
    expected.extend(sandbox.invoke_times(1, &work).await);
    let finished = sandbox.shutdown_cleanly().await;
    finished.assert_delivered_once(&expected);
    assert_eq!(finished.span_counts().len(), expected.len());
    assert_eq!(
        common::self_metric(&metrics, "otel_sidecar.dropped", "traces"),
        Some(0.0)
    );
    assert_eq!(
        common::self_metric(&metrics, "otel_sidecar.rejected", "traces"),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_the_backend_refuses_for_good_is_dropped_once_and_counted_as_rejected() {
    let (sandbox, metrics) = traces_apart(&format!("flush: {{ mode: end }}\n{FAST_RETRIES}")).await;
    let work = Work::default();

    // 400: the OTLP spec forbids a retry; the items are dropped and counted.
    sandbox.backend().set_behaviour(Behaviour::Fail {
        status: 400,
        retry_after: None,
    });
    let (refused, _) = sandbox.invoke(&work).await;
    assert_eq!(
        trace_requests(sandbox.backend()),
        [400],
        "sent once, never retried"
    );

    // A partial success: delivered, with the backend's count of refused spans.
    sandbox
        .backend()
        .set_behaviour(Behaviour::PartialSuccess { rejected: 2 });
    let (partial, _) = sandbox.invoke(&work).await;
    sandbox.backend().set_behaviour(Behaviour::Accept);
    let (accepted, _) = sandbox.invoke(&work).await;

    let finished = sandbox.shutdown_cleanly().await;
    assert_eq!(
        trace_requests(finished.backend()),
        [400, 200, 200],
        "nothing refused was sent again"
    );
    let counts = finished.span_counts();
    for name in expected_spans(&refused, &work) {
        assert!(!counts.contains_key(&name), "{name} refused yet delivered");
    }
    finished.assert_delivered_once(&expected_spans(&partial, &work));
    finished.assert_delivered_once(&expected_spans(&accepted, &work));
    let refused_spans = (work.spans + 1) as f64;
    assert_eq!(
        common::self_metric(&metrics, "otel_sidecar.rejected", "traces"),
        Some(refused_spans + 2.0),
        "the refused request's spans and the partial success's count"
    );
    assert!(
        finished
            .stderr
            .contains("backend refused telemetry; dropped"),
        "{}",
        finished.stderr
    );
}
