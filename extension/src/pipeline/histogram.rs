//! An explicit-bucket histogram of `f64` values, for the metrics the sidecar aggregates itself (its own
//! health counters and the Telemetry API's `faas.*` metrics).

/// Counts per bucket (`bounds.len() + 1` buckets, the last one unbounded), with count, sum, min, max.
#[derive(Debug, Clone)]
pub struct Hist {
    /// Upper bounds (inclusive), ascending.
    pub bounds: &'static [f64],
    /// One count per bucket.
    pub counts: Vec<u64>,
    /// Values recorded.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Smallest (0 when empty).
    pub min: f64,
    /// Largest (0 when empty).
    pub max: f64,
}

impl Hist {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
        }
    }

    /// Records `value`; negative and non-finite values are ignored.
    pub fn record(&mut self, value: f64) {
        if !value.is_finite() || value < 0.0 {
            return;
        }
        let bucket = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[bucket] += 1;
        if self.count == 0 || value < self.min {
            self.min = value;
        }
        if self.count == 0 || value > self.max {
            self.max = value;
        }
        self.count += 1;
        self.sum += value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let mut hist = Hist::new(&[0.001, 0.0025, 1.0]);
        for value in [0.001, 0.0011, 1000.0, -1.0, f64::NAN] {
            hist.record(value);
        }
        assert_eq!(hist.count, 3, "negative and NaN ignored");
        assert_eq!((hist.counts[0], hist.counts[1], hist.counts[3]), (1, 1, 1));
        assert_eq!((hist.min, hist.max), (0.001, 1000.0));
    }
}
