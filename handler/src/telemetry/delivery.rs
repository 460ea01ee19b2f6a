//! One hand-off's work: collect the metrics, encode them and the queued spans as OTLP, and deliver
//! them through the link to the sidecar, all on the runtime's own thread, the whole hand-off bounded
//! by the hand-off timeout; behind the [`super::breaker`], so that a missing or stuck sidecar costs
//! nothing on most invocations and at most one timeout on the others. How a hand-off goes over the wire
//! (one request to otel-sidecar, its answer awaited or left for the next hand-off, or plain OTLP) is
//! `link.rs`'s.
//!
//! Metrics are cumulative: a hand-off that is skipped or fails loses no metric data, the next
//! successful one carries the totals. Spans of a skipped or failed hand-off are dropped and counted.

use super::breaker::{Breaker, Decision, Failure};
use super::link::{Encoded, Link};
use super::sidecar::Endpoint;
use super::spans::SpanQueue;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::metrics::ManualReader;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::trace::SpanData;
use prost::Message;
use std::sync::Arc;
use std::time::Instant;

/// Everything a hand-off needs.
#[derive(Debug)]
pub struct Delivery {
    spans: SpanQueue,
    reader: Arc<ManualReader>,
    /// The resource of the spans (metrics carry theirs).
    resource: ResourceAttributesWithSchema,
    /// The connection and what is known of the endpoint; one hand-off at a time (an invocation's and
    /// the SIGTERM flush could otherwise overlap).
    link: tokio::sync::Mutex<Link>,
}

/// The invocation a hand-off ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending<'a> {
    /// Its Lambda request id.
    pub id: &'a str,
    /// Whether its trace was sampled, i.e. whether its SERVER span is among the spans handed off.
    pub sampled: bool,
    /// When the runtime received its event (the sidecar's INVOKE comes at about the same time).
    pub started: Instant,
    /// Its deadline, in ms since the Unix epoch (Lambda's `Lambda-Runtime-Deadline-Ms`).
    pub deadline_ms: u64,
}

/// What one hand-off did (for the hand-off's debug line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was delivered.
    Delivered,
    /// Written to otel-sidecar; its answer is read at the next hand-off.
    Sent,
    /// A request failed; the rest was dropped.
    Failed,
    /// The breaker is open: nothing was sent.
    Skipped,
}

impl Delivery {
    /// A delivery to the sidecar at `endpoint`, each step bounded by `timeout`.
    pub fn new(
        spans: SpanQueue,
        reader: Arc<ManualReader>,
        resource: &opentelemetry_sdk::Resource,
        endpoint: Endpoint,
        timeout: std::time::Duration,
        breaker: Breaker,
    ) -> Delivery {
        Delivery {
            spans,
            reader,
            resource: resource.into(),
            link: tokio::sync::Mutex::new(Link::new(endpoint, timeout, breaker)),
        }
    }

    /// Hands off everything recorded so far, and the end of invocation `ending`, if any.
    pub async fn hand_off(&self, ending: Option<Ending<'_>>) -> Outcome {
        let mut link = self.link.lock().await;
        // One deadline for the whole hand-off, the previous answer's read included.
        let deadline = link.deadline();
        link.settle_previous(deadline).await;
        let decision = link.decide();
        let (spans, overflowed) = self.spans.take();
        if overflowed > 0 {
            link.dropped(overflowed);
        }
        if decision == Decision::Skip {
            link.dropped(spans.len());
            return Outcome::Skipped;
        }
        let started = Instant::now();
        let count = spans.len();
        let mut metrics = ResourceMetrics::default();
        if let Err(error) = self.reader.collect(&mut metrics) {
            let failure = Failure::Other(format!("collecting metrics: {error}"));
            link.record(Err(failure), count);
            return Outcome::Failed;
        }
        let collected = Instant::now();
        let encoded = self.encode(&metrics, spans);
        let encoded_at = Instant::now();
        let (outcome, requests) = link.deliver(&encoded, count, ending, deadline).await;
        if let Some(requests) = requests {
            // Where a hand-off's time goes (docs/benchmarks.md); two clock reads more than without.
            tracing::debug!(
                collect_us = micros(collected - started),
                encode_us = micros(encoded_at - collected),
                send_us = micros(encoded_at.elapsed()),
                requests,
                spans = count,
                awaited = outcome != Outcome::Sent,
                "hand-off phases"
            );
        }
        outcome
    }

    /// The metrics (if any were recorded) and the spans (if any) as OTLP protobuf export requests.
    fn encode(&self, metrics: &ResourceMetrics, spans: Vec<SpanData>) -> Encoded {
        let metrics = metrics
            .scope_metrics()
            .next()
            .is_some()
            .then(|| Bytes::from(ExportMetricsServiceRequest::from(metrics).encode_to_vec()));
        let traces = (!spans.is_empty()).then(|| {
            let resource_spans = group_spans_by_resource_and_scope(spans, &self.resource);
            Bytes::from(ExportTraceServiceRequest { resource_spans }.encode_to_vec())
        });
        Encoded { metrics, traces }
    }
}

fn micros(duration: std::time::Duration) -> u64 {
    duration.as_micros().try_into().unwrap_or(u64::MAX)
}
