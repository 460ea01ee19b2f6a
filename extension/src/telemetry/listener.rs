//! The HTTP endpoint Lambda delivers Telemetry API batches to. Each batch is parsed record by record,
//! translated, and its spans and logs buffered before the answer, which takes microseconds: the answer
//! never waits for an export. A body that is not a JSON array gets 400 (Lambda logs it); bad records
//! inside a valid batch are skipped, counted and logged (the first few), never failing the batch.

use super::metrics::FaasMetrics;
use super::otlp;
use super::parse::{Skipped, parse_batch};
use super::translate::{Produced, Translator};
use crate::lifecycle::completion::Completions;
use crate::pipeline::{Entry, SharedBuffer};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Largest accepted batch: Lambda's `maxBytes` is at most 1 MiB, JSON framing included.
const MAX_BODY: usize = 4 << 20;

/// Skipped records logged one by one before the sidecar only counts them.
const LOGGED_SKIPS: u64 = 10;

/// State shared by the endpoint and the lifecycle.
#[derive(Debug)]
pub struct Shared {
    translator: Mutex<Translator>,
    buffer: SharedBuffer,
    completions: Arc<Completions>,
    metrics: Arc<FaasMetrics>,
    skipped: AtomicU64,
    batches: AtomicU64,
    /// Notified after each batch.
    pub delivered: Notify,
}

impl Shared {
    /// State buffering into `buffer`, signalling `runtimeDone` to `completions`.
    pub fn new(
        translator: Translator,
        buffer: SharedBuffer,
        completions: Arc<Completions>,
        metrics: Arc<FaasMetrics>,
    ) -> Self {
        Self {
            translator: Mutex::new(translator),
            buffer,
            completions,
            metrics,
            skipped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            delivered: Notify::new(),
        }
    }

    /// Handles one delivered body; `Err` when it is not a batch at all.
    pub fn accept(&self, body: &[u8]) -> Result<(), String> {
        let batch = parse_batch(body).map_err(|e| e.to_string())?;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.note_skipped(&batch.skipped);
        let produced = self
            .translator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .apply(batch.events, &self.completions);
        self.buffer_produced(produced);
        self.delivered.notify_waiters();
        Ok(())
    }

    /// Emits what is still open (see [`Translator::drain`]).
    pub fn drain(&self) {
        let produced = self
            .translator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(&self.completions);
        self.buffer_produced(produced);
    }

    /// Invocations still waiting for their `platform.report`.
    pub fn open_invocations(&self) -> usize {
        self.translator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open_invocations()
    }

    /// Batches received so far.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    fn buffer_produced(&self, produced: Produced) {
        let Produced {
            spans,
            logs,
            ended_abnormally,
        } = produced;
        if !spans.is_empty() || !logs.is_empty() {
            let mut buffer = self.buffer.lock();
            if !spans.is_empty() {
                buffer.push(Entry::new(&otlp::traces(spans)));
            }
            if !logs.is_empty() {
                buffer.push(Entry::new(&otlp::logs(logs)));
            }
        }
        for id in ended_abnormally {
            self.completions.mark_runtime_done(id);
        }
    }

    fn note_skipped(&self, skipped: &[Skipped]) {
        if skipped.is_empty() {
            return;
        }
        let unknown = skipped
            .iter()
            .filter(|s| matches!(s, Skipped::UnknownType(_)))
            .count() as u64;
        self.metrics
            .skipped(unknown, skipped.len() as u64 - unknown);
        let before = self
            .skipped
            .fetch_add(skipped.len() as u64, Ordering::Relaxed);
        for (n, skip) in skipped.iter().enumerate() {
            if before + n as u64 >= LOGGED_SKIPS {
                break;
            }
            match skip {
                Skipped::UnknownType(kind) => {
                    tracing::info!(message = "Telemetry API record of an unknown type skipped", kind = %kind)
                }
                Skipped::Malformed { kind, reason } => {
                    tracing::warn!(message = "Telemetry API record skipped", kind = %kind, reason = %reason)
                }
            }
        }
        if before < LOGGED_SKIPS && before + skipped.len() as u64 >= LOGGED_SKIPS {
            tracing::warn!(
                message = "further skipped Telemetry API records are only counted (otel_sidecar.telemetry_api.skipped)"
            );
        }
    }
}

/// The router: `POST` on any path (Lambda posts to the destination URI as given).
pub fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/", post(deliver))
        .route("/{*path}", post(deliver))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

async fn deliver(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    match shared.accept(&body) {
        Ok(()) => StatusCode::OK,
        Err(reason) => {
            tracing::warn!(message = "Telemetry API delivery rejected", %reason, bytes = body.len());
            StatusCode::BAD_REQUEST
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Signal;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    fn shared() -> Arc<Shared> {
        let metrics = Arc::new(FaasMetrics::new("other"));
        Arc::new(Shared::new(
            Translator::new(metrics.clone(), "other"),
            SharedBuffer::new(1 << 20),
            Arc::new(Completions::default()),
            metrics,
        ))
    }

    async fn post(shared: &Arc<Shared>, path: &str, body: &str) -> StatusCode {
        let request = Request::post(path)
            .body(Body::from(body.to_owned()))
            .unwrap();
        router(shared.clone())
            .oneshot(request)
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn a_batch_is_buffered_and_an_abnormal_end_signalled_before_the_answer() {
        let shared = shared();
        let batch = include_str!("../../tests/fixtures/telemetry/mixed-batch.json");
        assert_eq!(post(&shared, "/", batch).await, StatusCode::OK);
        let success = include_str!("../../tests/fixtures/telemetry/platform.runtimeDone.json");
        assert_eq!(post(&shared, "/any/path", success).await, StatusCode::OK);
        assert!(
            !shared
                .completions
                .is_finished("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"),
            "a successful runtime still sends its root span: keep waiting for it"
        );
        let error = include_str!("../../tests/fixtures/telemetry/platform.runtimeDone.error.json");
        assert_eq!(post(&shared, "/", error).await, StatusCode::OK);
        assert!(
            shared
                .completions
                .is_finished("0f3a5b2c-7e31-4c8e-9a0b-5d4c3b2a1f00")
        );
        let signals: Vec<Signal> = shared
            .buffer
            .lock()
            .drain()
            .iter()
            .map(|e| e.signal)
            .collect();
        assert!(
            signals.contains(&Signal::Traces),
            "the reported invocation's spans"
        );
        assert!(signals.contains(&Signal::Logs), "the function's line");
        assert_eq!(shared.batches(), 3);
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_batch_is_a_400() {
        let shared = shared();
        assert_eq!(post(&shared, "/", "{}").await, StatusCode::BAD_REQUEST);
        assert_eq!(shared.batches(), 0);
    }
}
