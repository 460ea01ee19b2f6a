//! Flush decisions, as a pure state machine over an injected clock (every method takes `now`), so the
//! policy is unit-tested without sleeping.
//!
//! - `end`: export at every invocation end, before `next`. Freshest data; costs one export per invocation.
//! - `periodic`: export at the first invocation end after `interval` has passed since the last export.
//! - `continuous`: at INVOKE, if `interval` has passed, start exporting what is buffered while the function
//!   works; at the invocation end, hold `next` only until that export finishes (bounded by `max_delay`).
//!   New data waits for a later invocation or SHUTDOWN.
//! - `adaptive` (default): `end` while invocations are rare, `continuous` once they arrive on average
//!   closer than `busy_threshold` (mean of recent gaps, after 3 invocations). Rarely-called functions get
//!   fresh data; busy ones pay next to nothing per invocation.

use crate::config::{FlushConfig, FlushMode};
use std::time::{Duration, Instant};

/// What to do when an INVOKE arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtInvoke {
    /// Start a background export of what is buffered.
    StartExport,
    /// Nothing.
    Nothing,
}

/// What to do when the function has finished the invocation, before calling `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtEnd {
    /// Export everything buffered, waiting up to `max_delay`.
    Export,
    /// Only wait (up to `max_delay`) for an export already running.
    AwaitRunning,
}

/// Weight of the newest gap in the moving average of invocation gaps.
const GAP_WEIGHT: f64 = 0.3;
/// Invocations observed before `adaptive` may call a function busy.
const MIN_OBSERVATIONS: u64 = 3;

/// The flush policy state.
#[derive(Debug, Clone)]
pub struct FlushControl {
    config: FlushConfig,
    last_export: Option<Instant>,
    last_invoke: Option<Instant>,
    mean_gap: Option<Duration>,
    invocations: u64,
}

impl FlushControl {
    /// A fresh policy for `config`.
    pub fn new(config: FlushConfig) -> Self {
        Self {
            config,
            last_export: None,
            last_invoke: None,
            mean_gap: None,
            invocations: 0,
        }
    }

    /// The mode in effect now (`adaptive` resolves to `end` or `continuous`).
    pub fn effective_mode(&self) -> FlushMode {
        match self.config.mode {
            FlushMode::Adaptive => {
                let busy = self.invocations >= MIN_OBSERVATIONS
                    && self
                        .mean_gap
                        .is_some_and(|gap| gap < self.config.busy_threshold);
                if busy {
                    FlushMode::Continuous
                } else {
                    FlushMode::End
                }
            }
            mode => mode,
        }
    }

    /// An INVOKE arrived at `now`; `buffered` says whether there is anything to export.
    pub fn on_invoke(&mut self, now: Instant, buffered: bool) -> AtInvoke {
        if let Some(previous) = self.last_invoke {
            let gap = now.saturating_duration_since(previous);
            self.mean_gap = Some(match self.mean_gap {
                None => gap,
                Some(mean) => mean.mul_f64(1.0 - GAP_WEIGHT) + gap.mul_f64(GAP_WEIGHT),
            });
        }
        self.last_invoke = Some(now);
        self.invocations += 1;
        if self.effective_mode() == FlushMode::Continuous && buffered && self.due(now) {
            self.last_export = Some(now);
            return AtInvoke::StartExport;
        }
        AtInvoke::Nothing
    }

    /// The function finished its invocation at `now`.
    pub fn on_end(&mut self, now: Instant, buffered: bool) -> AtEnd {
        let export = match self.effective_mode() {
            FlushMode::End | FlushMode::Adaptive => true,
            FlushMode::Periodic => self.due(now),
            FlushMode::Continuous => false,
        };
        if export && buffered {
            self.last_export = Some(now);
            AtEnd::Export
        } else {
            AtEnd::AwaitRunning
        }
    }

    fn due(&self, now: Instant) -> bool {
        self.last_export
            .is_none_or(|last| now.saturating_duration_since(last) >= self.config.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn control(mode: FlushMode) -> FlushControl {
        let mut config = Config::default().flush;
        config.mode = mode;
        config.interval = Duration::from_secs(20);
        config.busy_threshold = Duration::from_secs(60);
        FlushControl::new(config)
    }

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    #[test]
    fn end_exports_after_every_invocation() {
        let t0 = Instant::now();
        let mut c = control(FlushMode::End);
        for i in 0..5 {
            assert_eq!(c.on_invoke(at(t0, i), true), AtInvoke::Nothing);
            assert_eq!(c.on_end(at(t0, i), true), AtEnd::Export);
        }
        assert_eq!(
            c.on_end(at(t0, 9), false),
            AtEnd::AwaitRunning,
            "nothing buffered, nothing to do"
        );
    }

    #[test]
    fn periodic_exports_at_the_first_end_after_the_interval() {
        let t0 = Instant::now();
        let mut c = control(FlushMode::Periodic);
        let decisions: Vec<AtEnd> = [0, 5, 19, 20, 21, 39, 41]
            .iter()
            .map(|s| c.on_end(at(t0, *s), true))
            .collect();
        use AtEnd::*;
        assert_eq!(
            decisions,
            [
                Export,
                AwaitRunning,
                AwaitRunning,
                Export,
                AwaitRunning,
                AwaitRunning,
                Export
            ]
        );
    }

    #[test]
    fn continuous_exports_at_invoke_when_due_and_never_at_end() {
        let t0 = Instant::now();
        let mut c = control(FlushMode::Continuous);
        assert_eq!(
            c.on_invoke(at(t0, 0), false),
            AtInvoke::Nothing,
            "nothing buffered yet"
        );
        assert_eq!(c.on_end(at(t0, 0), true), AtEnd::AwaitRunning);
        assert_eq!(c.on_invoke(at(t0, 1), true), AtInvoke::StartExport);
        assert_eq!(c.on_invoke(at(t0, 10), true), AtInvoke::Nothing);
        assert_eq!(c.on_invoke(at(t0, 21), true), AtInvoke::StartExport);
        assert_eq!(c.on_end(at(t0, 21), true), AtEnd::AwaitRunning);
    }

    #[test]
    fn adaptive_follows_the_invocation_rate() {
        let t0 = Instant::now();
        let mut c = control(FlushMode::Adaptive);
        // Rare: one call every 5 minutes -> end.
        for i in 0..4 {
            c.on_invoke(at(t0, i * 300), true);
            assert_eq!(c.effective_mode(), FlushMode::End);
            assert_eq!(c.on_end(at(t0, i * 300), true), AtEnd::Export);
        }
        // Busy: one call a second -> continuous once the average gap drops below a minute.
        let mut switched_at = None;
        for i in 0..40 {
            let now = at(t0, 1200 + i);
            c.on_invoke(now, true);
            if switched_at.is_none() && c.effective_mode() == FlushMode::Continuous {
                switched_at = Some(i);
            }
        }
        let switched_at = switched_at.expect("became continuous");
        assert!(switched_at <= 10, "switched after {switched_at} busy calls");
        assert_eq!(c.on_end(at(t0, 1240), true), AtEnd::AwaitRunning);
        // Quiet again: a few long gaps bring it back to end.
        for i in 1..=5 {
            c.on_invoke(at(t0, 1240 + i * 600), true);
        }
        assert_eq!(c.effective_mode(), FlushMode::End);
    }

    #[test]
    fn adaptive_needs_a_few_observations_before_calling_a_function_busy() {
        let t0 = Instant::now();
        let mut c = control(FlushMode::Adaptive);
        c.on_invoke(t0, true);
        c.on_invoke(at(t0, 1), true);
        assert_eq!(c.effective_mode(), FlushMode::End);
        c.on_invoke(at(t0, 2), true);
        assert_eq!(c.effective_mode(), FlushMode::Continuous);
    }
}
