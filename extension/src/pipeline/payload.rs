//! One received OTLP request, decoded: the resource-level lists of one signal, with size and item counts.

use super::signal::Signal;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, metric::Data};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

/// Decoded telemetry of one signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Spans grouped by resource.
    Traces(Vec<ResourceSpans>),
    /// Metrics grouped by resource.
    Metrics(Vec<ResourceMetrics>),
    /// Log records grouped by resource.
    Logs(Vec<ResourceLogs>),
}

impl From<ExportTraceServiceRequest> for Payload {
    fn from(request: ExportTraceServiceRequest) -> Self {
        Self::Traces(request.resource_spans)
    }
}

impl From<ExportMetricsServiceRequest> for Payload {
    fn from(request: ExportMetricsServiceRequest) -> Self {
        Self::Metrics(request.resource_metrics)
    }
}

impl From<ExportLogsServiceRequest> for Payload {
    fn from(request: ExportLogsServiceRequest) -> Self {
        Self::Logs(request.resource_logs)
    }
}

impl Payload {
    /// The OTLP signal this payload is exported as.
    pub fn signal(&self) -> Signal {
        match self {
            Self::Traces(_) => Signal::Traces,
            Self::Metrics(_) => Signal::Metrics,
            Self::Logs(_) => Signal::Logs,
        }
    }

    /// Number of spans, metric data points or log records.
    pub fn item_count(&self) -> u64 {
        let count: usize = match self {
            Self::Traces(list) => list
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum(),
            Self::Metrics(list) => list
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(data_points)
                .sum(),
            Self::Logs(list) => list
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum(),
        };
        count as u64
    }

    /// Whether it holds no resource at all.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Traces(list) => list.is_empty(),
            Self::Metrics(list) => list.is_empty(),
            Self::Logs(list) => list.is_empty(),
        }
    }

    /// Size of the payload encoded as an Export*ServiceRequest, in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Traces(list) => list.iter().map(|r| framed(r.encoded_len())).sum(),
            Self::Metrics(list) => list.iter().map(|r| framed(r.encoded_len())).sum(),
            Self::Logs(list) => list.iter().map(|r| framed(r.encoded_len())).sum(),
        }
    }

    /// Decodes an encoded Export*ServiceRequest of `signal`.
    pub fn decode(signal: Signal, body: &[u8]) -> Result<Self, prost::DecodeError> {
        Ok(match signal {
            Signal::Traces => ExportTraceServiceRequest::decode(body)?.into(),
            Signal::Metrics => ExportMetricsServiceRequest::decode(body)?.into(),
            Signal::Logs => ExportLogsServiceRequest::decode(body)?.into(),
        })
    }

    /// The payload encoded as the matching Export*ServiceRequest (all three have the resource list as field 1),
    /// without copying it.
    pub fn encode_request(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        match self {
            Self::Traces(list) => list
                .iter()
                .for_each(|r| prost::encoding::message::encode(1, r, &mut buf)),
            Self::Metrics(list) => list
                .iter()
                .for_each(|r| prost::encoding::message::encode(1, r, &mut buf)),
            Self::Logs(list) => list
                .iter()
                .for_each(|r| prost::encoding::message::encode(1, r, &mut buf)),
        }
        buf
    }
}

/// A repeated field element costs its length plus a tag byte and a length varint.
fn framed(len: usize) -> usize {
    len + 1 + prost::encoding::encoded_len_varint(len as u64)
}

fn data_points(metric: &opentelemetry_proto::tonic::metrics::v1::Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}
