//! An explicit-bucket histogram of `f64` values and the bucket bounds the `faas.*` metrics use.

/// Bounds for durations in seconds: 1 ms to 15 min (Lambda's maximum timeout).
pub const SECONDS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0,
];

/// Bounds for memory in bytes: 64 MiB to 10 GiB (Lambda's range is 128 MB to 10,240 MB).
pub const BYTES: [f64; 9] = [
    67_108_864.0,
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
    1_073_741_824.0,
    2_147_483_648.0,
    4_294_967_296.0,
    8_589_934_592.0,
    10_737_418_240.0,
];

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
        let mut hist = Hist::new(&SECONDS);
        for value in [0.001, 0.0011, 1000.0, -1.0, f64::NAN] {
            hist.record(value);
        }
        assert_eq!(hist.count, 3, "negative and NaN ignored");
        assert_eq!(
            (hist.counts[0], hist.counts[1], hist.counts[SECONDS.len()]),
            (1, 1, 1)
        );
        assert_eq!((hist.min, hist.max), (0.001, 1000.0));
    }
}
