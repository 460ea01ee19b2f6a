//! OTLP metric construction for the metrics the sidecar aggregates itself (its own health counters and
//! the Telemetry API's `faas.*` metrics): cumulative sums, gauges and explicit-bucket histograms.

use super::histogram::Hist;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum,
    metric::Data, number_data_point,
};
use std::time::{SystemTime, UNIX_EPOCH};

/// Cumulative points from `start` to `now`, each carrying `attributes` (plus its own, for `counters`).
#[derive(Debug, Clone)]
pub struct Points {
    /// Start of the cumulation (Unix nanoseconds).
    pub start: u64,
    /// Time of the points.
    pub now: u64,
    /// Attributes of every point.
    pub attributes: Vec<KeyValue>,
}

impl Points {
    /// A monotonic sum with one point.
    pub fn counter(&self, name: &str, unit: &str, description: &str, value: u64) -> Metric {
        self.counters(name, unit, description, vec![(Vec::new(), value)])
    }

    /// A monotonic sum with one point per attribute set (each added to the common ones).
    pub fn counters(
        &self,
        name: &str,
        unit: &str,
        description: &str,
        points: Vec<(Vec<KeyValue>, u64)>,
    ) -> Metric {
        let data_points = points
            .into_iter()
            .map(|(attributes, value)| self.number(attributes, value))
            .collect();
        metric(
            name,
            unit,
            description,
            Data::Sum(Sum {
                data_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        )
    }

    /// A gauge with one point.
    pub fn gauge(&self, name: &str, unit: &str, description: &str, value: u64) -> Metric {
        let data_points = vec![self.number(Vec::new(), value)];
        metric(name, unit, description, Data::Gauge(Gauge { data_points }))
    }

    fn number(&self, own: Vec<KeyValue>, value: u64) -> NumberDataPoint {
        let mut attributes = self.attributes.clone();
        attributes.extend(own);
        NumberDataPoint {
            attributes,
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            value: Some(number_data_point::Value::AsInt(
                i64::try_from(value).unwrap_or(i64::MAX),
            )),
            ..Default::default()
        }
    }

    /// A histogram with one point.
    pub fn histogram(&self, name: &str, unit: &str, description: &str, hist: &Hist) -> Metric {
        let point = HistogramDataPoint {
            attributes: self.attributes.clone(),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            count: hist.count,
            sum: Some(hist.sum),
            bucket_counts: hist.counts.clone(),
            explicit_bounds: hist.bounds.to_vec(),
            min: (hist.count > 0).then_some(hist.min),
            max: (hist.count > 0).then_some(hist.max),
            ..Default::default()
        };
        metric(
            name,
            unit,
            description,
            Data::Histogram(Histogram {
                data_points: vec![point],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )
    }
}

/// A metric named `name`.
fn metric(name: &str, unit: &str, description: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

/// Now, in Unix nanoseconds.
pub fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
