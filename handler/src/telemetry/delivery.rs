//! One hand-off's work: export the metrics, then the queued spans, then (for an unsampled invocation)
//! the "finished" signal, all on the runtime's own thread, each request bounded by the hand-off
//! timeout; behind the [`Breaker`], so that a missing or stuck sidecar costs nothing on most
//! invocations and at most one timeout on the others.
//!
//! Metrics go first, so that the trace request (which carries the invocation's SERVER span) is the
//! sidecar's sign that the invocation's telemetry is complete. The first failed request ends the
//! hand-off: the rest is dropped, not sent into a second timeout.
//!
//! Metrics are cumulative: a hand-off that is skipped or fails loses no metric data, the next
//! successful one carries the totals. Spans of a skipped or failed hand-off are dropped and counted.

use super::breaker::{Breaker, Decision, Failure};
use super::sidecar::SidecarClient;
use super::spans::SpanQueue;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::ManualReader;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::trace::SpanExporter;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Everything a hand-off needs.
#[derive(Debug)]
pub struct Delivery {
    pub(super) spans: SpanQueue,
    pub(super) reader: Arc<ManualReader>,
    pub(super) span_exporter: opentelemetry_otlp::SpanExporter,
    pub(super) metric_exporter: opentelemetry_otlp::MetricExporter,
    pub(super) client: Arc<SidecarClient>,
    /// `{endpoint}/otel-sidecar/v1/invocations/`
    pub(super) finished_url: String,
    pub(super) breaker: Mutex<Breaker>,
    /// One hand-off at a time (an invocation's and the SIGTERM flush could otherwise overlap).
    pub(super) running: tokio::sync::Mutex<()>,
}

/// What one hand-off did (for the hand-off's debug line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was delivered.
    Delivered,
    /// A request failed; the rest was dropped.
    Failed,
    /// The breaker is open: nothing was sent.
    Skipped,
}

impl Delivery {
    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands off everything recorded so far (and, for an unsampled invocation, its end).
    pub async fn hand_off(&self, unsampled: Option<&str>) -> Outcome {
        let _running = self.running.lock().await;
        let decision = self.breaker().decide(Instant::now());
        let (spans, overflowed) = self.spans.take();
        if overflowed > 0 {
            self.breaker().dropped(overflowed);
        }
        if decision == Decision::Skip {
            self.breaker().dropped(spans.len());
            return Outcome::Skipped;
        }
        let count = spans.len();
        let result = self.deliver(spans, unsampled).await;
        let now = Instant::now();
        let (outcome, transition) = match result {
            Ok(()) => (Outcome::Delivered, self.breaker().succeeded(now)),
            Err(failure) => {
                let mut breaker = self.breaker();
                let transition = breaker.failed(now, failure);
                // Counted as dropped while open, the opening hand-off's spans included.
                breaker.dropped(count);
                (Outcome::Failed, transition)
            }
        };
        if let Some(transition) = transition {
            transition.log();
        }
        outcome
    }

    async fn deliver(
        &self,
        spans: Vec<opentelemetry_sdk::trace::SpanData>,
        unsampled: Option<&str>,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let span_count = spans.len();
        let mut metrics = ResourceMetrics::default();
        self.reader
            .collect(&mut metrics)
            .map_err(|error| Failure::Other(format!("collecting metrics: {error}")))?;
        let collected = Instant::now();
        if metrics.scope_metrics().next().is_some() {
            let result = self.metric_exporter.export(&metrics).await;
            result.map_err(|error| self.failure(error))?;
        }
        let metrics_sent = Instant::now();
        if !spans.is_empty() {
            let result = self.span_exporter.export(spans).await;
            result.map_err(|error| self.failure(error))?;
        }
        let spans_sent = Instant::now();
        // Where a hand-off's time goes (docs/benchmarks.md); two clock reads more than without.
        tracing::debug!(
            collect_us = micros(collected - started),
            metrics_us = micros(metrics_sent - collected),
            traces_us = micros(spans_sent - metrics_sent),
            spans = span_count,
            "hand-off phases"
        );
        if let Some(id) = unsampled {
            let url = format!("{}{id}/finished", self.finished_url);
            match self.client.post_empty(&url).await {
                Ok(status) if (200..300).contains(&status) => {}
                // An OTLP receiver without this route (a plain collector): not a failure of the
                // hand-off, and it cost a fast answer only.
                Ok(status) => tracing::debug!(status, "finished signal refused"),
                Err(failure) => return Err(failure),
            }
        }
        Ok(())
    }

    /// Why an export failed: what the client saw, else the exporter's message.
    fn failure(&self, error: OTelSdkError) -> Failure {
        self.client
            .take_failure()
            .unwrap_or_else(|| Failure::Other(error.to_string()))
    }
}

fn micros(duration: std::time::Duration) -> u64 {
    duration.as_micros().try_into().unwrap_or(u64::MAX)
}
