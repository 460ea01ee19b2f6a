//! The three OTLP signals, and [`PerSignal`], a value for each of them: the only way to keep per-signal
//! data (no hand-indexed arrays), iterated in one canonical order, [`Signal::ALL`].

use std::ops::{Index, IndexMut};

/// The three OTLP signals, declared in the canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Metric data points.
    Metrics,
    /// Spans.
    Traces,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals in the canonical order, which is also the export order (metrics first, like the
    /// handler sends them) and the iteration order of [`PerSignal`].
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Traces, Signal::Logs];

    /// Lower-case name used in logs, metrics and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }

    /// Its position in [`Signal::ALL`]; private, so that only [`PerSignal`] indexes by it.
    fn position(self) -> usize {
        match self {
            Self::Metrics => 0,
            Self::Traces => 1,
            Self::Logs => 2,
        }
    }
}

/// One `T` per signal, indexed by [`Signal`] (`counts[Signal::Logs] += 1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerSignal<T>([T; 3]);

impl<T> PerSignal<T> {
    /// The value `f(signal)` for each signal.
    pub fn from_fn(mut f: impl FnMut(Signal) -> T) -> Self {
        Self(Signal::ALL.map(&mut f))
    }

    /// `f(signal)` for each signal, or the first error, in [`Signal::ALL`] order.
    pub fn try_from_fn<E>(mut f: impl FnMut(Signal) -> Result<T, E>) -> Result<Self, E> {
        let [metrics, traces, logs] = Signal::ALL;
        Ok(Self([f(metrics)?, f(traces)?, f(logs)?]))
    }

    /// Each signal with its value, in [`Signal::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Signal, &T)> {
        Signal::ALL.into_iter().zip(&self.0)
    }
}

impl<T> Index<Signal> for PerSignal<T> {
    type Output = T;

    fn index(&self, signal: Signal) -> &T {
        &self.0[signal.position()]
    }
}

impl<T> IndexMut<Signal> for PerSignal<T> {
    fn index_mut(&mut self, signal: Signal) -> &mut T {
        &mut self.0[signal.position()]
    }
}

impl<T> IntoIterator for PerSignal<T> {
    type Item = (Signal, T);
    type IntoIter = std::iter::Zip<std::array::IntoIter<Signal, 3>, std::array::IntoIter<T, 3>>;

    /// Each signal with its value, in [`Signal::ALL`] order.
    fn into_iter(self) -> Self::IntoIter {
        Signal::ALL.into_iter().zip(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_reads_back_what_was_stored_for_it() {
        let names = PerSignal::from_fn(Signal::as_str);
        for signal in Signal::ALL {
            assert_eq!(names[signal], signal.as_str());
        }
        let mut counts = PerSignal::<u64>::default();
        counts[Signal::Logs] += 3;
        counts[Signal::Traces] += 1;
        assert_eq!(
            (
                counts[Signal::Metrics],
                counts[Signal::Traces],
                counts[Signal::Logs]
            ),
            (0, 1, 3)
        );
    }

    #[test]
    fn positions_follow_the_canonical_order() {
        for (i, signal) in Signal::ALL.into_iter().enumerate() {
            assert_eq!(signal.position(), i, "{signal:?}");
        }
    }

    #[test]
    fn iteration_pairs_every_signal_with_its_own_value_in_the_canonical_order() {
        let names = PerSignal::from_fn(Signal::as_str);
        let pairs: Vec<(Signal, &str)> = names.iter().map(|(s, n)| (s, *n)).collect();
        assert_eq!(
            pairs,
            [
                (Signal::Metrics, "metrics"),
                (Signal::Traces, "traces"),
                (Signal::Logs, "logs")
            ]
        );
        assert!(
            names
                .into_iter()
                .all(|(signal, name)| signal.as_str() == name)
        );
        let built: Result<PerSignal<Signal>, ()> = PerSignal::try_from_fn(Ok);
        assert!(Signal::ALL.into_iter().all(|s| built.unwrap()[s] == s));
        assert_eq!(
            PerSignal::try_from_fn(|s| if s == Signal::Traces { Err(s) } else { Ok(()) }),
            Err(Signal::Traces)
        );
    }
}
