//! The HTTP endpoint Lambda delivers Telemetry API batches to. Each batch is parsed record by record and
//! translated; its spans and logs go through [`Ingest::accept_from_lambda`], which buffers them and then
//! marks the invocations Lambda reported over as finished, all before the answer, which takes
//! microseconds: the answer never waits for an export. A body
//! that is not a JSON array gets 400 (Lambda logs it); bad records inside a valid batch (not parsing, or
//! not fitting the invocations seen: unknown request id, duplicate, late) are skipped, counted and
//! logged (the first few), never failing the batch.

use super::metrics::FaasMetrics;
use super::otlp;
use super::parse::{Skipped, parse_batch};
use super::translate::{Produced, Translator};
use crate::lifecycle::notice::Notice;
use crate::receiver::Ingest;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Largest accepted batch: Lambda's `maxBytes` is at most 1 MiB, JSON framing included.
const MAX_BODY: usize = 4 << 20;

/// Skipped records logged one by one before the sidecar only counts them.
const LOGGED_SKIPS: u64 = 10;

/// State shared by the endpoint and the lifecycle.
#[derive(Debug)]
pub struct Shared {
    translator: Mutex<Translator>,
    ingest: Ingest,
    metrics: Arc<FaasMetrics>,
    skipped: AtomicU64,
    batches: AtomicU64,
    /// Announced after each batch.
    pub delivered: Notice,
}

impl Shared {
    /// State translating with `translator` and handing the results to `ingest`.
    pub fn new(translator: Translator, ingest: Ingest, metrics: Arc<FaasMetrics>) -> Self {
        Self {
            translator: Mutex::new(translator),
            ingest,
            metrics,
            skipped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            delivered: Notice::default(),
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
            .apply(batch.events, self.ingest.completions());
        self.note_skipped(&produced.skipped);
        self.buffer_produced(produced);
        self.delivered.announce();
        Ok(())
    }

    /// Emits what is still open (see [`Translator::drain`]).
    pub fn drain(&self) {
        let produced = self
            .translator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(self.ingest.completions());
        self.buffer_produced(produced);
    }

    /// Invocations still waiting for their `platform.report`.
    pub fn open_invocations(&self) -> usize {
        self.translator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open_invocations()
    }

    /// Telemetry API batches accepted since start (bodies that were not a batch at all are not counted).
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    fn buffer_produced(&self, produced: Produced) {
        let Produced {
            spans,
            logs,
            ended,
            skipped: _,
        } = produced;
        let mut payloads = Vec::new();
        if !spans.is_empty() {
            payloads.push(otlp::traces(spans));
        }
        if !logs.is_empty() {
            payloads.push(otlp::logs(logs));
        }
        self.ingest.accept_from_lambda(&payloads, ended);
    }

    fn note_skipped(&self, skipped: &[Skipped]) {
        if skipped.is_empty() {
            return;
        }
        self.metrics.skipped(skipped.iter().map(Skipped::reason));
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
                Skipped::UnknownRequestId { kind, request_id }
                | Skipped::Duplicate { kind, request_id }
                | Skipped::Late { kind, request_id } => {
                    tracing::info!(
                        message = "Telemetry API record skipped",
                        kind,
                        request_id = %request_id,
                        reason = skip.reason().as_str()
                    )
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
    use crate::lifecycle::completion::Completions;
    use crate::pipeline::{SharedBuffer, Signal};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    fn shared_with(buffer: SharedBuffer) -> Arc<Shared> {
        let metrics = Arc::new(FaasMetrics::new("other"));
        let ingest = Ingest::new(buffer, Arc::new(Completions::default()));
        Arc::new(Shared::new(
            Translator::new(metrics.clone(), "other"),
            ingest,
            metrics,
        ))
    }

    fn shared() -> Arc<Shared> {
        shared_with(SharedBuffer::new(1 << 20))
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
    async fn a_batch_is_buffered_and_every_runtime_done_signalled_before_the_answer() {
        let buffer = SharedBuffer::new(1 << 20);
        let shared = shared_with(buffer.clone());
        let start = include_str!("../../tests/fixtures/telemetry/platform.start.json");
        assert_eq!(post(&shared, "/", start).await, StatusCode::OK);
        let success = include_str!("../../tests/fixtures/telemetry/platform.runtimeDone.json");
        assert_eq!(post(&shared, "/any/path", success).await, StatusCode::OK);
        assert!(
            shared
                .ingest
                .completions()
                .is_finished("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"),
            "rapid sends runtimeDone once the runtime called next, after the function's hand-off"
        );
        assert!(
            !shared
                .ingest
                .completions()
                .signalled_by_function("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa")
        );
        // A runtimeDone for a request that never started still ends the wait, but is not counted.
        let error = include_str!("../../tests/fixtures/telemetry/platform.runtimeDone.error.json");
        assert_eq!(post(&shared, "/", error).await, StatusCode::OK);
        assert!(
            shared
                .ingest
                .completions()
                .is_finished("0f3a5b2c-7e31-4c8e-9a0b-5d4c3b2a1f00")
        );
        let batch = include_str!("../../tests/fixtures/telemetry/mixed-batch.json");
        assert_eq!(post(&shared, "/", batch).await, StatusCode::OK);
        let signals: Vec<Signal> = buffer.lock().drain().iter().map(|e| e.signal).collect();
        assert!(
            signals.contains(&Signal::Traces),
            "the reported invocation's spans"
        );
        assert!(signals.contains(&Signal::Logs), "the function's line");
        assert_eq!(shared.batches(), 4);
        let Some(crate::pipeline::Payload::Metrics(report)) = shared.metrics.take_report() else {
            panic!("metrics")
        };
        let metric = |name: &str| {
            report[0].scope_metrics[0]
                .metrics
                .iter()
                .find(|m| m.name == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name}"))
        };
        let sum = |m: opentelemetry_proto::tonic::metrics::v1::Metric| match m.data {
            Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) => s.data_points,
            other => panic!("{other:?}"),
        };
        let invocations = sum(metric("faas.invocations"));
        assert_eq!(
            invocations[0].value,
            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(1)),
            "the started one, once: the mixed batch repeats its start"
        );
        let skipped: Vec<_> = sum(metric("otel_sidecar.telemetry_api.skipped"))
            .into_iter()
            .map(|p| p.value)
            .collect();
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt;
        // unknown_type, malformed, unknown_request_id, duplicate, late
        assert_eq!(
            skipped,
            [
                Some(AsInt(1)),
                Some(AsInt(4)),
                Some(AsInt(1)),
                Some(AsInt(1)),
                Some(AsInt(0))
            ]
        );
    }

    #[tokio::test]
    async fn a_body_that_is_not_a_batch_is_a_400() {
        let shared = shared();
        assert_eq!(post(&shared, "/", "{}").await, StatusCode::BAD_REQUEST);
        assert_eq!(shared.batches(), 0);
    }
}
