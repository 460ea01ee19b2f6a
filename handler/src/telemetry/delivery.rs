//! One hand-off's work: collect the metrics, encode them and the queued spans as OTLP, and deliver
//! them, all on the runtime's own thread, each request bounded by the hand-off timeout; behind the
//! [`Breaker`], so that a missing or stuck sidecar costs nothing on most invocations and at most one
//! timeout on the others.
//!
//! An invocation's hand-off is one request, `POST /otel-sidecar/v1/invocations/{id}/handoff` with the
//! metrics and the spans in one body (`sidecar-contract`): one loopback round trip instead of two per
//! invocation (docs/benchmarks.md, the hand-off in one request). The sidecar buffers
//! the metrics, then the spans, then takes the invocation as finished, whether or not its trace was
//! sampled.
//!
//! Plain OTLP is the fallback: when the endpoint answers the hand-off route 404, 405, 415 or 501 (an
//! OpenTelemetry Collector, a vendor's agent or proxy: any OTLP receiver that is not otel-sidecar and so
//! does not know the route; otel-sidecar itself never answers these to a well-formed hand-off), this and every later hand-off sends
//! `/v1/metrics`, then `/v1/traces` (whose SERVER span tells otel-sidecar the invocation is complete), then,
//! for an unsampled invocation, `POST …/{id}/finished`. The hand-off at SIGTERM, which ends no invocation,
//! is plain OTLP too. The first failed request ends a hand-off: the rest is dropped, not sent into a
//! second timeout.
//!
//! Metrics are cumulative: a hand-off that is skipped or fails loses no metric data, the next
//! successful one carries the totals. Spans of a skipped or failed hand-off are dropped and counted.

use super::breaker::{Breaker, Decision, Failure};
use super::sidecar::SidecarClient;
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
use sidecar_contract::{HANDOFF_CONTENT_TYPE, HandOff, InvocationId, Route};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// `Content-Type` of OTLP/HTTP protobuf requests.
const OTLP_PROTOBUF: &str = "application/x-protobuf";

/// Everything a hand-off needs.
#[derive(Debug)]
pub struct Delivery {
    spans: SpanQueue,
    reader: Arc<ManualReader>,
    /// The resource of the spans (metrics carry theirs).
    resource: ResourceAttributesWithSchema,
    client: SidecarClient,
    /// The sidecar's base URL, without a trailing `/`.
    endpoint: String,
    /// The endpoint answered the hand-off route as a receiver without it does (see
    /// [`NOT_OTEL_SIDECAR`]): it is not otel-sidecar, send plain OTLP.
    plain_otlp: AtomicBool,
    breaker: Mutex<Breaker>,
    /// One hand-off at a time (an invocation's and the SIGTERM flush could otherwise overlap).
    running: tokio::sync::Mutex<()>,
}

/// The invocation a hand-off ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending<'a> {
    /// Its Lambda request id.
    pub id: &'a str,
    /// Whether its trace was sampled, i.e. whether its SERVER span is among the spans handed off.
    pub sampled: bool,
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

/// Answers to the hand-off route that mean "no such route here" (not found, method not allowed,
/// unsupported media type, not implemented): the endpoint is another OTLP receiver. Nothing was
/// accepted, so re-sending the same data as plain OTLP sends nothing twice.
const NOT_OTEL_SIDECAR: [u16; 4] = [404, 405, 415, 501];

/// One hand-off's encoded OTLP export requests.
struct Encoded {
    metrics: Option<Bytes>,
    traces: Option<Bytes>,
}

impl Delivery {
    /// A delivery to the sidecar at `endpoint` (a base URL).
    pub fn new(
        spans: SpanQueue,
        reader: Arc<ManualReader>,
        resource: &opentelemetry_sdk::Resource,
        client: SidecarClient,
        endpoint: &str,
        breaker: Breaker,
    ) -> Delivery {
        Delivery {
            spans,
            reader,
            resource: resource.into(),
            client,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            plain_otlp: AtomicBool::new(false),
            breaker: Mutex::new(breaker),
            running: tokio::sync::Mutex::new(()),
        }
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands off everything recorded so far, and the end of invocation `ending`, if any.
    pub async fn hand_off(&self, ending: Option<Ending<'_>>) -> Outcome {
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
        let result = self.deliver(spans, ending).await;
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
        spans: Vec<SpanData>,
        ending: Option<Ending<'_>>,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let span_count = spans.len();
        let mut metrics = ResourceMetrics::default();
        self.reader
            .collect(&mut metrics)
            .map_err(|error| Failure::Other(format!("collecting metrics: {error}")))?;
        let collected = Instant::now();
        let encoded = self.encode(&metrics, spans);
        let encoded_at = Instant::now();
        // A Lambda request id is always valid; anything else goes the plain way, which needs no id.
        let invocation = ending.and_then(|e| InvocationId::parse(e.id).ok());
        let requests = match invocation {
            Some(id) if !self.plain_otlp.load(Ordering::Relaxed) => {
                self.deliver_in_one(&encoded, &id, ending).await?
            }
            _ => self.deliver_plain(&encoded, ending).await?,
        };
        // Where a hand-off's time goes (docs/benchmarks.md); two clock reads more than without.
        tracing::debug!(
            collect_us = micros(collected - started),
            encode_us = micros(encoded_at - collected),
            send_us = micros(encoded_at.elapsed()),
            requests,
            spans = span_count,
            "hand-off phases"
        );
        Ok(())
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

    /// The hand-off route: one request. Returns how many requests were sent.
    async fn deliver_in_one(
        &self,
        encoded: &Encoded,
        id: &InvocationId,
        ending: Option<Ending<'_>>,
    ) -> Result<u32, Failure> {
        let body = HandOff {
            metrics: encoded.metrics.clone(),
            traces: encoded.traces.clone(),
        }
        .encode_to_vec();
        let url = format!("{}{}", self.endpoint, Route::HandOff.path(id));
        match self
            .client
            .post(&url, Some(HANDOFF_CONTENT_TYPE), Bytes::from(body))
            .await?
        {
            200..=299 => Ok(1),
            status if NOT_OTEL_SIDECAR.contains(&status) => {
                // Nothing was accepted: sending it all the plain way now sends nothing twice.
                self.plain_otlp.store(true, Ordering::Relaxed);
                tracing::info!(
                    status,
                    endpoint = %self.endpoint,
                    "the telemetry endpoint is not otel-sidecar (no hand-off route): handing off plain OTLP from now on"
                );
                Ok(1 + self.deliver_plain(encoded, ending).await?)
            }
            status => Err(Failure::Status(status)),
        }
    }

    /// Plain OTLP: metrics, then spans, then (unsampled invocation) the "finished" signal. Returns how
    /// many requests were sent.
    async fn deliver_plain(
        &self,
        encoded: &Encoded,
        ending: Option<Ending<'_>>,
    ) -> Result<u32, Failure> {
        let mut requests = 0;
        for (path, body) in [
            ("/v1/metrics", &encoded.metrics),
            ("/v1/traces", &encoded.traces),
        ] {
            if let Some(body) = body {
                let url = format!("{}{path}", self.endpoint);
                let status = self
                    .client
                    .post(&url, Some(OTLP_PROTOBUF), body.clone())
                    .await?;
                requests += 1;
                if !(200..300).contains(&status) {
                    return Err(Failure::Status(status));
                }
            }
        }
        let unsampled = ending.filter(|e| !e.sampled);
        if let Some(id) = unsampled.and_then(|e| InvocationId::parse(e.id).ok()) {
            let url = format!("{}{}", self.endpoint, Route::Finished.path(&id));
            let status = self.client.post(&url, None, Bytes::new()).await?;
            requests += 1;
            if !(200..300).contains(&status) {
                // An OTLP receiver without this route (a plain collector): not a failure of the
                // hand-off, and it cost a fast answer only.
                tracing::debug!(status, "finished signal refused");
            }
        }
        Ok(requests)
    }
}

fn micros(duration: std::time::Duration) -> u64 {
    duration.as_micros().try_into().unwrap_or(u64::MAX)
}
