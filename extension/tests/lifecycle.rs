//! The real sidecar under lambda-env (the workspace's Lambda environment): exactly-once delivery in every flush mode, with the
//! sandbox frozen between invocations, and SHUTDOWN right after an invocation.

mod common;

use common::{Options, Sandbox, Work, expected_spans};

async fn exactly_once(mode: &str, invocations: usize) {
    let config = format!(
        "flush:\n  mode: {mode}\n  interval_ms: 100\n  adaptive_busy_threshold_ms: 60000\n"
    );
    let sandbox = Sandbox::with_config(config).await;
    let expected = sandbox.invoke_times(invocations, &Work::default()).await;
    let finished = sandbox.shutdown_cleanly().await;
    finished.assert_delivered_once(&expected);
    let counts = finished.span_counts();
    assert_eq!(
        counts.len(),
        expected.len(),
        "{mode}: unexpected spans {counts:?}"
    );
    let points = testkit::otlp_view::metric_points(&finished.backend().metrics());
    let function_points = points
        .iter()
        .filter(|p| p.name == "function.invocations")
        .count();
    assert_eq!(
        function_points, invocations,
        "{mode}: metric points delivered once each"
    );
    // Enrichment: Lambda attributes on the function's resource, without overwriting its service.name.
    let span = testkit::otlp_view::spans(&finished.backend().traces())
        .into_iter()
        .next()
        .expect("a span");
    assert_eq!(
        span.resource.get("service.name").and_then(|v| v.as_str()),
        Some("aws-rust-http-api")
    );
    assert_eq!(
        span.resource.get("faas.name").and_then(|v| v.as_str()),
        Some("sidecar-test")
    );
    assert_eq!(
        span.resource
            .get("cloud.account.id")
            .and_then(|v| v.as_str()),
        Some("123456789012")
    );
    assert_eq!(
        span.resource.get("cloud.region").and_then(|v| v.as_str()),
        Some("us-east-1")
    );
    assert!(span.resource.contains_key("faas.max_memory"));
    assert_eq!(
        finished
            .self_metric("otel_sidecar.dropped", "traces")
            .unwrap_or(0.0),
        0.0
    );
    // The sidecar's own health: one post-runtime measurement per invocation, export latencies recorded.
    let histogram_count = |name: &str| {
        points
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.count)
            .max()
            .unwrap_or(0)
    };
    assert_eq!(
        histogram_count("otel_sidecar.post_runtime.duration"),
        invocations as u64,
        "{mode}"
    );
    assert!(
        histogram_count("otel_sidecar.export.duration") > 0,
        "{mode}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_is_delivered_exactly_once_in_end_mode() {
    exactly_once("end", 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_is_delivered_exactly_once_in_periodic_mode() {
    exactly_once("periodic", 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_is_delivered_exactly_once_in_continuous_mode() {
    exactly_once("continuous", 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_is_delivered_exactly_once_in_adaptive_mode() {
    exactly_once("adaptive", 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_right_after_an_invocation_delivers_its_data() {
    // A long interval keeps the invocation's data buffered: only SHUTDOWN can deliver it.
    let sandbox = Sandbox::with_config("flush:\n  mode: periodic\n  interval_ms: 3600000\n").await;
    let work = Work::default();
    let (first, _) = sandbox.invoke(&work).await; // the first end in periodic mode exports
    let (last, _) = sandbox.invoke(&work).await;
    assert!(
        sandbox
            .backend()
            .traces()
            .iter()
            .all(|t| !format!("{t:?}").contains(&last)),
        "not exported before SHUTDOWN"
    );
    let finished = sandbox.shutdown_cleanly().await;
    finished.assert_delivered_once(
        &[expected_spans(&first, &work), expected_spans(&last, &work)].concat(),
    );
    assert!(
        finished.stderr.contains("everything exported"),
        "{}",
        finished.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_exports_nothing_stalls_the_sidecar_at_most_once() {
    let timeout = std::time::Duration::from_millis(1500);
    let config = format!(
        "flush: {{ mode: end, completion_timeout_ms: {} }}\n",
        timeout.as_millis()
    );
    // No freezing here: once the sidecar stops waiting, it calls `next` before the function is done;
    // the function's later exports then reach a sidecar that is no longer expecting them, and the
    // test wants every wait measured without a freeze in between.
    let sandbox = Sandbox::start(Options {
        config,
        freeze: false,
        ..Options::default()
    })
    .await;
    let silent = Work {
        export: false,
        ..Work::default()
    };
    let (_, first) = sandbox.invoke(&silent).await;
    let (_, second) = sandbox.invoke(&silent).await;
    let (_, third) = sandbox.invoke(&silent).await;
    // The first invocation waits for a root span that never comes (bounded); after that the sidecar
    // knows better. Margins are wide: the bug this catches is paying the full timeout every time.
    assert!(
        first + std::time::Duration::from_millis(300) >= timeout,
        "first wait {first:?}"
    );
    assert!(
        second < timeout / 2 && third < timeout / 2,
        "later waits {second:?}, {third:?}"
    );
    // Exporting again turns waiting back on, and the data is delivered.
    let (id, _) = sandbox.invoke(&Work::default()).await;
    let (id2, _) = sandbox.invoke(&Work::default()).await;
    let finished = sandbox.shutdown().await;
    assert!(
        finished.stderr.contains("no longer waiting"),
        "{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("sends root spans again"),
        "{}",
        finished.stderr
    );
    finished.assert_delivered_once(
        &[
            expected_spans(&id, &Work::default()),
            expected_spans(&id2, &Work::default()),
        ]
        .concat(),
    );
}
