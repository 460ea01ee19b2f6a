//! Unit tests of the controller in paused tokio time (waits, flushes, SHUTDOWN).

use super::*;
use crate::config::{Config, FlushConfig, FlushMode};
use crate::exporter::Exporters;
use crate::exporter::otlp::OtlpExporter;
use crate::lifecycle::completion::RootSpan;
use crate::pipeline::resource::{Enricher, LambdaFacts};
use crate::pipeline::{Entry, Payload, SharedBuffer};
use crate::receiver::Ingest;
use crate::telemetry::listener::Shared;
use crate::telemetry::metrics::FaasMetrics;
use crate::telemetry::translate::Translator;
use testkit::{Behaviour, FakeOtlpBackend};

struct Rig {
    controller: Controller,
    completions: Arc<Completions>,
    buffer: SharedBuffer,
    stats: Arc<Stats>,
    /// The Telemetry API listener's state: batches are delivered to it as Lambda would.
    telemetry: Arc<Shared>,
}

/// A controller in `end` mode exporting nowhere (no endpoint, no console): what is measured here is
/// how long it holds `next`, in tokio's paused time.
fn rig() -> Rig {
    let mut flush = Config::default().flush;
    flush.mode = FlushMode::End;
    rig_with(flush, |_| None)
}

/// A controller with `flush` and the OTLP exporter `otlp` makes from the rig's stats (if any).
fn rig_with(flush: FlushConfig, otlp: impl FnOnce(Arc<Stats>) -> Option<OtlpExporter>) -> Rig {
    let stats = Arc::new(Stats::new());
    let buffer = SharedBuffer::new(1 << 20);
    let exporters = Arc::new(Exporters::new(
        otlp(stats.clone()),
        false,
        stats.clone(),
        1 << 20,
    ));
    let enricher = Arc::new(Enricher::new(&LambdaFacts::default(), &[]));
    let flusher = Flusher::new(buffer.clone(), exporters, enricher, stats.clone());
    let completions = Arc::new(Completions::default());
    let metrics = Arc::new(FaasMetrics::new("other"));
    let telemetry = Arc::new(Shared::new(
        Translator::new(metrics.clone(), "other"),
        Ingest::new(buffer.clone(), completions.clone()),
        metrics,
    ));
    Rig {
        controller: Controller::new(flush, flusher, completions.clone(), stats.clone()),
        completions,
        buffer,
        stats,
        telemetry,
    }
}

/// A warm invocation in rapid's order (tests/fixtures/telemetry/rapid/warm.json).
const WARM: &str = include_str!("../../../tests/fixtures/telemetry/rapid/warm.json");
const WARM_ID: &str = "2f9c4e1a-5b6d-4c7e-8f90-a1b2c3d4e5f6";

/// The records of `WARM` of the given types, for invocation `id`, as one batch.
fn batch(id: &str, types: &[&str]) -> String {
    let records: Vec<serde_json::Value> = serde_json::from_str(WARM).unwrap();
    let kept: Vec<serde_json::Value> = records
        .into_iter()
        .filter(|r| types.contains(&r["type"].as_str().unwrap()))
        .collect();
    serde_json::to_string(&kept).unwrap().replace(WARM_ID, id)
}

/// Delivers `body` to the Telemetry API listener `after_ms` from now.
fn deliver(rig: &Rig, after_ms: u64, body: String) -> tokio::task::JoinHandle<()> {
    let telemetry = rig.telemetry.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        telemetry.accept(body.as_bytes()).unwrap();
    })
}

/// Lambda's records of invocation `id` up to `runtimeDone` (what the first batch after the
/// runtime's `next` carries).
fn until_runtime_done(id: &str) -> String {
    batch(id, &["platform.start", "platform.runtimeDone"])
}

fn root() -> RootSpan {
    RootSpan {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: Vec::new(),
        start_unix_nano: 1,
        end_unix_nano: 2,
    }
}

fn far_deadline() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64 + 60_000)
        .unwrap_or(u64::MAX)
}

/// How long `on_invoke(id)` held `next`, in paused time.
async fn held(rig: &mut Rig, id: &str) -> Duration {
    let started = Instant::now();
    rig.controller.on_invoke(id, far_deadline()).await;
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_delivered_root_span_releases_next_at_once_and_the_buffer_is_flushed() {
    let mut rig = rig();
    rig.buffer
        .lock()
        .push(Entry::new(&Payload::Traces(Vec::new())));
    rig.completions.mark("a".into(), root());
    assert_eq!(held(&mut rig, "a").await, Duration::ZERO);
    assert!(rig.buffer.lock().is_empty(), "end mode exports before next");
    assert_eq!(rig.stats.post_runtime_summary().0, 1);
}

#[tokio::test(start_paused = true)]
async fn a_silent_function_waits_for_the_first_runtime_done_then_not_at_all() {
    let mut rig = rig();
    // Lambda delivers the first batch one buffering period (25 ms) after the runtime's next.
    let lambda = deliver(&rig, 30, until_runtime_done("first"));
    assert_eq!(
        held(&mut rig, "first").await,
        Duration::from_millis(30),
        "ends at runtimeDone, not at the completion timeout"
    );
    lambda.await.unwrap();
    for id in ["second", "third", "fourth"] {
        let lambda = deliver(&rig, 30, until_runtime_done(id));
        assert_eq!(held(&mut rig, id).await, Duration::ZERO, "{id}");
        lambda.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_root_span_re_arms_waiting_and_the_skipped_invocations_spans_stay_buffered() {
    let mut rig = rig();
    let lambda = deliver(&rig, 30, until_runtime_done("silent"));
    held(&mut rig, "silent").await;
    lambda.await.unwrap();

    // The function exports this time, but the sidecar no longer waits: its spans arrive after
    // the sidecar called next (before the runtime did, so before the freeze).
    assert_eq!(held(&mut rig, "exports").await, Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(3)).await;
    rig.buffer
        .lock()
        .push(Entry::new(&Payload::Traces(Vec::new())));
    rig.completions.mark("exports".into(), root());
    assert!(!rig.buffer.lock().is_empty(), "buffered, not lost");

    // The root span turned waiting back on: the next invocation waits for its own, and the
    // previous invocation's spans leave with this flush.
    let completions = rig.completions.clone();
    let function = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(40)).await;
        completions.mark("again".into(), root());
    });
    assert_eq!(held(&mut rig, "again").await, Duration::from_millis(40));
    function.await.unwrap();
    assert!(
        rig.buffer.lock().is_empty(),
        "exported at the end of `again`"
    );
}

#[tokio::test(start_paused = true)]
async fn a_report_ends_the_wait_when_runtime_done_never_comes() {
    let mut rig = rig();
    let lambda = deliver(
        &rig,
        45,
        batch("lost", &["platform.start", "platform.report"]),
    );
    assert_eq!(held(&mut rig, "lost").await, Duration::from_millis(45));
    lambda.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn without_a_telemetry_api_the_completion_timeout_bounds_the_first_wait() {
    let mut rig = rig();
    let timeout = rig.controller.config.completion_timeout;
    assert_eq!(
        held(&mut rig, "silent").await,
        timeout,
        "bounded by flush.completion_timeout_ms"
    );
    // The previous invocation never delivered a root span: the next one does not wait at all.
    assert_eq!(held(&mut rig, "next").await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_error_runtime_done_ends_the_wait_without_counting_as_a_root_span() {
    let mut rig = rig();
    let error = batch("crashed", &["platform.start", "platform.runtimeDone"])
        .replace(r#""status":"success""#, r#""status":"error""#);
    let lambda = deliver(&rig, 30, error);
    assert_eq!(held(&mut rig, "crashed").await, Duration::from_millis(30));
    lambda.await.unwrap();
    // No root span came: the next invocation does not wait for one.
    assert_eq!(held(&mut rig, "after").await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_unsampled_invocations_explicit_signal_ends_the_wait_and_keeps_waiting_on() {
    let mut rig = rig();
    let later = |id: &'static str, after_ms: u64, root_span: bool| {
        let completions = rig.completions.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            if root_span {
                completions.mark(id.into(), root());
            } else {
                completions.mark_signalled(id.into());
            }
        })
    };
    let signal = later("unsampled", 20, false);
    let started = Instant::now();
    rig.controller.on_invoke("unsampled", far_deadline()).await;
    assert_eq!(started.elapsed(), Duration::from_millis(20));
    signal.await.unwrap();
    // Unlike a silent invocation, the signal keeps the wait on for the next one.
    let span = later("sampled", 15, true);
    let started = Instant::now();
    rig.controller.on_invoke("sampled", far_deadline()).await;
    assert_eq!(started.elapsed(), Duration::from_millis(15));
    span.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_invocation_deadline_caps_the_wait() {
    let mut rig = rig();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let started = Instant::now();
    rig.controller.on_invoke("short", now_ms + 500).await;
    assert!(
        started.elapsed() <= Duration::from_millis(501),
        "{:?}",
        started.elapsed()
    );
}

/// A controller in `end` mode exporting to `backend` with the retry policy `retry` (YAML flow map), built
/// from a config file as the sidecar builds it.
fn rig_exporting_to(backend: &FakeOtlpBackend, retry: &str) -> Rig {
    let endpoint = backend.endpoint();
    let yaml = format!(
        "flush: {{ mode: end }}\nexporter: {{ endpoint: \"{endpoint}\", timeout_ms: 60000, retry: {retry} }}\n"
    );
    let loaded = crate::config::load_from_str(&yaml, "test.yaml", &|_| None);
    assert!(loaded.error.is_none(), "{:?}", loaded.error);
    let config = loaded.config;
    let exporter = config.exporter;
    assert!(exporter.is_some(), "exporter configured");
    rig_with(config.flush, |stats| {
        exporter.map(|exporter| OtlpExporter::new(exporter, stats))
    })
}

/// A buffered entry holding one span.
fn one_span() -> Entry {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    Entry::new(&Payload::Traces(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                name: "buffered".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }]))
}

/// Lambda's SHUTDOWN budget for extensions (rapid `shutdown.go`: about 2 s in total).
const LAMBDA_SHUTDOWN_BUDGET: Duration = Duration::from_secs(2);

/// Runs `on_shutdown` with Lambda's deadline `LAMBDA_SHUTDOWN_BUDGET` from now; returns how long it took
/// in paused time. The deadline travels as wall-clock Unix milliseconds (as in the SHUTDOWN event), so
/// the controller's own arithmetic turns it back into a monotonic instant.
async fn shutdown_with_lambdas_deadline(rig: &mut Rig) -> Duration {
    let deadline_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d + LAMBDA_SHUTDOWN_BUDGET).as_millis() as u64)
        .unwrap();
    let started = Instant::now();
    rig.controller.on_shutdown("spindown", deadline_ms).await;
    started.elapsed()
}

/// The SHUTDOWN deadline against a backend that never lets the export finish: the controller must
/// give up exactly at Lambda's deadline minus the margin (in paused time, so load cannot move it; the
/// margin is what covers the process's own exit). A stop moved 100 ms later fails the upper bound; the
/// lower bound catches giving up long before the budget is used (e.g. a margin applied twice).
fn assert_stopped_at_the_margin(rig: &Rig, took: Duration) {
    let margin = rig.controller.config.shutdown_margin;
    let stop = LAMBDA_SHUTDOWN_BUDGET - margin;
    assert!(
        took <= stop,
        "stopped {took:?} after SHUTDOWN, past {stop:?} (deadline - margin)"
    );
    // Below `stop` only by the wall-clock milliseconds between computing the deadline and the controller
    // reading the clock (unloaded: < 1 ms; 250 ms allows for a descheduled test thread) and by one retry
    // backoff (10 ms); a margin applied twice (stop at 1.4 s) still fails.
    assert!(
        took >= stop - Duration::from_millis(250),
        "gave up at {took:?}, long before {stop:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_against_a_hanging_backend_stops_at_the_deadline_minus_the_margin() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    backend.set_behaviour(Behaviour::Hang);
    let mut rig = rig_exporting_to(&backend, "{ max_attempts: 5 }");
    rig.buffer.lock().push(one_span());
    let took = shutdown_with_lambdas_deadline(&mut rig).await;
    assert!(!backend.requests().is_empty(), "the backend was reached");
    assert_stopped_at_the_margin(&rig, took);
}

#[tokio::test(start_paused = true)]
async fn shutdown_against_a_failing_backend_retries_until_the_deadline_minus_the_margin() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    backend.set_behaviour(Behaviour::Fail {
        status: 503,
        retry_after: None,
    });
    // Short, many retries: they fill the budget, so where the controller stops is its deadline alone.
    let mut rig = rig_exporting_to(
        &backend,
        "{ max_attempts: 1000, initial_backoff_ms: 10, max_backoff_ms: 10 }",
    );
    rig.buffer.lock().push(one_span());
    let took = shutdown_with_lambdas_deadline(&mut rig).await;
    assert!(
        backend.requests().len() > 10,
        "retried: {} requests",
        backend.requests().len()
    );
    assert_stopped_at_the_margin(&rig, took);
}

#[tokio::test(start_paused = true)]
async fn shutdown_delivers_what_is_buffered_and_returns_at_once() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    let mut rig = rig_exporting_to(&backend, "{ max_attempts: 5 }");
    rig.buffer.lock().push(one_span());
    let took = shutdown_with_lambdas_deadline(&mut rig).await;
    assert!(rig.buffer.lock().is_empty());
    let spans = testkit::otlp_view::spans(&backend.traces());
    assert_eq!(spans.len(), 1, "delivered once: {spans:?}");
    // Paused time only moves when every task waits on a timer: a prompt backend takes none of it.
    assert_eq!(took, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_backend_holds_next_for_exactly_the_delay_bound_each_time() {
    let backend = FakeOtlpBackend::start().await.unwrap();
    backend.set_behaviour(Behaviour::Hang);
    let mut rig = rig_exporting_to(&backend, "{ max_attempts: 5 }");
    let bound = rig.controller.config.max_delay;
    let mut requests = Vec::new();
    for id in ["first", "second", "third"] {
        rig.buffer.lock().push(one_span());
        rig.completions.mark(id.into(), root());
        // The function is done at INVOKE (its root span is there): all of the hold is the export's.
        assert_eq!(held(&mut rig, id).await, bound, "{id}");
        requests.push(backend.requests().len());
    }
    assert!(requests[0] > 0, "the backend was reached");
    assert_eq!(
        requests, [requests[0]; 3],
        "one export job, kept running across invocations, not restarted"
    );
    assert_eq!(rig.stats.post_runtime_summary().0, 3);
}
