//! The real sidecar under lambda-env (the workspace's Lambda environment): exactly-once delivery in every flush mode, with the
//! sandbox frozen between invocations (with the stand-in function, and with the real handler), and
//! SHUTDOWN right after an invocation.

mod common;

use common::{Options, Sandbox, Work, expected_spans};
use std::time::Duration;

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

/// The real handler (`bootstrap`) and the real sidecar: what the stand-in function does by contract,
/// the handler must do in fact. Its hand-off ends each invocation on the fast path (the completion
/// timeout is never waited for), and every span reaches the backend exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_handler_hands_off_every_invocation_and_each_span_arrives_once() {
    // A completion timeout far above any post-runtime time on a loaded machine: an invocation that
    // waited for it was not ended by the handler's hand-off (root span with faas.invocation_id).
    let completion_timeout = Duration::from_secs(10);
    let sandbox = Sandbox::start(Options {
        config: format!(
            "flush: {{ mode: end, completion_timeout_ms: {} }}\n",
            completion_timeout.as_millis()
        ),
        handler: true,
        ..Options::default()
    })
    .await;
    let event = common::handler_event("apigw_v2_root.json");
    let mut ids = Vec::new();
    for _ in 0..8 {
        let id = sandbox.enqueue_event(&event).await;
        let overhead = sandbox.complete(&id).await;
        assert!(
            overhead < completion_timeout / 2,
            "invocation {id} held next for {overhead:?}: not ended by the handler's hand-off\n{}",
            sandbox.stderr()
        );
        ids.push(id);
    }
    let finished = sandbox.shutdown_cleanly().await;
    let spans = testkit::otlp_view::spans(&finished.backend().traces());
    const SERVER: i32 = 2;
    for id in &ids {
        let servers: Vec<_> = spans
            .iter()
            .filter(|s| s.kind == SERVER && s.attr_str("faas.invocation_id") == Some(id.as_str()))
            .collect();
        assert_eq!(servers.len(), 1, "server span of {id}: {servers:?}");
        let children = spans
            .iter()
            .filter(|s| s.trace_id == servers[0].trace_id && s.span_id != servers[0].span_id)
            .count();
        assert!(children > 0, "the S3 call's span of {id} arrived too");
    }
    let mut span_ids: Vec<_> = spans.iter().map(|s| (&s.trace_id, &s.span_id)).collect();
    let total = span_ids.len();
    span_ids.sort();
    span_ids.dedup();
    assert_eq!(span_ids.len(), total, "a span was delivered twice");
    assert_eq!(
        finished
            .self_metric("otel_sidecar.dropped", "traces")
            .unwrap_or(0.0),
        0.0
    );
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
    // Real processes on a machine that may be loaded: the timeout is large enough that the bounds
    // below keep 2 s from it on either side (the exact waits are tested in paused time in
    // `lifecycle::controller`: `without_a_telemetry_api_the_completion_timeout_bounds_the_first_wait`).
    let timeout = Duration::from_secs(4);
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
    // knows better. The wait starts at INVOKE and the overhead at the function's `next`, so the first
    // is the timeout minus the function's own time (a few ms; 2 s if the machine stalls badly). The
    // bug caught: paying the full timeout every time (later waits near 4 s), or never waiting at all
    // (a first wait near 0: the sidecar would flush before a slow function's data could arrive).
    assert!(first >= timeout / 2, "first wait {first:?}");
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
