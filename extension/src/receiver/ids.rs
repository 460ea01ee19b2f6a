//! Trace and span id lengths, checked as the OpenTelemetry Collector checks them when it decodes OTLP
//! (`go.opentelemetry.io/collector/pdata` v1.67.0, `internal/traceid.go` `TraceID.UnmarshalProto` and
//! `internal/spanid.go` `SpanID.UnmarshalProto`: 16 and 8 bytes, or empty). A collector answers 400 to
//! the whole request otherwise; accepting such a request here would have one bad span take every other
//! item of its export batch down with it, so the receiver refuses it the same way.

use crate::pipeline::Payload;
use opentelemetry_proto::tonic::metrics::v1::Exemplar;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

const TRACE_ID: usize = 16;
const SPAN_ID: usize = 8;

/// The first id of a wrong length in `payload`, described, or `Ok`.
pub fn check(payload: &Payload) -> Result<(), String> {
    match payload {
        Payload::Traces(resources) => {
            for span in resources
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                id("span trace_id", &span.trace_id, TRACE_ID)?;
                id("span span_id", &span.span_id, SPAN_ID)?;
                id("span parent_span_id", &span.parent_span_id, SPAN_ID)?;
                for link in &span.links {
                    id("link trace_id", &link.trace_id, TRACE_ID)?;
                    id("link span_id", &link.span_id, SPAN_ID)?;
                }
            }
        }
        Payload::Logs(resources) => {
            for record in resources
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                id("log record trace_id", &record.trace_id, TRACE_ID)?;
                id("log record span_id", &record.span_id, SPAN_ID)?;
            }
        }
        Payload::Metrics(resources) => {
            for data in resources
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .filter_map(|m| m.data.as_ref())
            {
                for exemplar in exemplars(data) {
                    id("exemplar trace_id", &exemplar.trace_id, TRACE_ID)?;
                    id("exemplar span_id", &exemplar.span_id, SPAN_ID)?;
                }
            }
        }
    }
    Ok(())
}

fn exemplars(data: &Data) -> Box<dyn Iterator<Item = &Exemplar> + '_> {
    match data {
        Data::Gauge(g) => Box::new(g.data_points.iter().flat_map(|p| &p.exemplars)),
        Data::Sum(s) => Box::new(s.data_points.iter().flat_map(|p| &p.exemplars)),
        Data::Histogram(h) => Box::new(h.data_points.iter().flat_map(|p| &p.exemplars)),
        Data::ExponentialHistogram(h) => Box::new(h.data_points.iter().flat_map(|p| &p.exemplars)),
        Data::Summary(_) => Box::new(std::iter::empty()),
    }
}

fn id(what: &str, bytes: &[u8], length: usize) -> Result<(), String> {
    if bytes.is_empty() || bytes.len() == length {
        Ok(())
    } else {
        Err(format!(
            "{what} is {} bytes long (must be {length}, or empty)",
            bytes.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use opentelemetry_proto::tonic::trace::v1::span::Link;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn traces(span: Span) -> Payload {
        Payload::Traces(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }])
    }

    fn span(trace: usize, id: usize, parent: usize) -> Span {
        Span {
            trace_id: vec![1; trace],
            span_id: vec![2; id],
            parent_span_id: vec![3; parent],
            ..Default::default()
        }
    }

    #[test]
    fn span_ids_are_the_right_length_or_empty() {
        assert!(check(&traces(span(16, 8, 8))).is_ok());
        assert!(check(&traces(span(16, 8, 0))).is_ok());
        assert!(check(&traces(span(0, 0, 0))).is_ok());
        assert!(
            check(&traces(span(15, 8, 0)))
                .unwrap_err()
                .contains("trace_id is 15 bytes")
        );
        assert!(
            check(&traces(span(16, 5, 0)))
                .unwrap_err()
                .contains("span_id is 5 bytes")
        );
        assert!(check(&traces(span(16, 8, 9))).is_err());
        let mut linked = span(16, 8, 0);
        linked.links.push(Link {
            trace_id: vec![1; 16],
            span_id: vec![2; 4],
            ..Default::default()
        });
        assert!(check(&traces(linked)).unwrap_err().contains("link span_id"));
    }

    #[test]
    fn log_record_and_exemplar_ids_are_checked_too() {
        let logs = |trace: usize, id: usize| {
            Payload::Logs(vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        trace_id: vec![1; trace],
                        span_id: vec![2; id],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }])
        };
        assert!(check(&logs(16, 8)).is_ok());
        assert!(check(&logs(0, 0)).is_ok());
        assert!(check(&logs(3, 0)).is_err());
        let gauge = |span: usize| {
            Payload::Metrics(vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                exemplars: vec![Exemplar {
                                    trace_id: vec![1; 16],
                                    span_id: vec![2; span],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }])
        };
        assert!(check(&gauge(8)).is_ok());
        assert!(check(&gauge(7)).unwrap_err().contains("exemplar span_id"));
    }
}
