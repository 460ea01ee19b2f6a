//! The hand-off's circuit breaker: after a failed hand-off, later invocations skip it (and drop their
//! telemetry, counted) instead of paying the failure again; a probe at a bounded rate finds out when
//! the sidecar answers again.
//!
//! A pure state machine: the caller passes the time (`Instant`) of every event, so that tests drive it
//! with made-up instants. It decides and counts; the hand-off does the I/O and logs the
//! [`Transition`]s it returns (one per change of state, see [`Transition::log`]).
//!
//! Rate of probes while open: the first invocation after at least [`Policy::probe_after_skips`]
//! skipped invocations, or after [`Policy::probe_interval`] since the last attempt, whichever comes
//! first, and never two attempts in a row (at least one invocation is skipped between two probes).
//! A probe is the invocation's real hand-off; it costs at most one hand-off timeout (the hand-off
//! stops at its first failed request), so a stuck sidecar costs one timeout per probe, never two
//! timeouts in a row.

use std::fmt;
use std::time::{Duration, Instant};

/// When the open breaker probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Probe after this many skipped invocations (at least 1).
    pub probe_after_skips: u32,
    /// Probe after this long since the last attempt (and at least one skipped invocation).
    pub probe_interval: Duration,
}

impl Default for Policy {
    /// Every 10th invocation or every 5 s: a busy function pays a stuck sidecar's timeout about once
    /// every 5 s, a rarely invoked one at most every other invocation.
    fn default() -> Self {
        Policy {
            probe_after_skips: 10,
            probe_interval: Duration::from_secs(5),
        }
    }
}

/// Why a hand-off failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing accepted the connection (no sidecar, wrong address, …).
    Unreachable(String),
    /// No answer within the hand-off timeout.
    TimedOut(Duration),
    /// The sidecar answered with an error status.
    Status(u16),
    /// Anything else (encoding, a broken connection…).
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreachable(detail) => write!(f, "sidecar unreachable: {detail}"),
            Failure::TimedOut(after) => {
                write!(
                    f,
                    "no answer within the hand-off timeout ({} ms)",
                    after.as_millis()
                )
            }
            Failure::Status(status) => write!(f, "sidecar answered HTTP {status}"),
            Failure::Other(detail) => f.write_str(detail),
        }
    }
}

/// What to do with this invocation's telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Hand it off (breaker closed).
    HandOff,
    /// Hand it off as a probe (breaker open).
    Probe,
    /// Drop it without any I/O (breaker open, no probe due).
    Skip,
}

/// A change of state, to be logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Hand-offs are skipped from now on.
    Opened {
        /// The failure that opened it.
        reason: Failure,
    },
    /// Hand-offs resumed after a successful probe.
    Closed {
        /// How long hand-offs were skipped.
        open_for: Duration,
        /// Invocations whose hand-off was skipped.
        skipped_invocations: u64,
        /// Spans dropped with them (and with the failed attempts).
        dropped_spans: u64,
        /// The failure that opened the breaker.
        reason: Failure,
    },
}

impl Transition {
    /// The transition's one log line (warn when opening, info when closing).
    pub fn log(&self) {
        match self {
            Transition::Opened { reason } => tracing::warn!(
                %reason,
                "telemetry hand-off failed: skipping it (and dropping the function's telemetry) \
                 until a probe finds the sidecar answering; requests are still served"
            ),
            Transition::Closed {
                open_for,
                skipped_invocations,
                dropped_spans,
                reason,
            } => tracing::info!(
                open_for_ms = open_for.as_millis() as u64,
                skipped_invocations,
                dropped_spans,
                %reason,
                "telemetry hand-off resumed: the sidecar answers again"
            ),
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    Closed,
    Open {
        reason: Failure,
        opened_at: Instant,
        last_attempt: Instant,
        skipped_since_attempt: u32,
        skipped_invocations: u64,
        dropped_spans: u64,
    },
}

/// The breaker. Starts closed.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: Policy,
    state: State,
    /// Spans dropped since the process started (never reset).
    dropped_total: u64,
}

impl Breaker {
    /// A closed breaker with `policy`.
    pub fn new(policy: Policy) -> Breaker {
        Breaker {
            policy,
            state: State::Closed,
            dropped_total: 0,
        }
    }

    /// Whether hand-offs are being skipped.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Spans dropped since the process started.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Decides the fate of one invocation's hand-off at `now`. Every [`Decision::Skip`] is counted as a
    /// skipped invocation; [`Breaker::dropped`] counts what it dropped.
    pub fn decide(&mut self, now: Instant) -> Decision {
        match &mut self.state {
            State::Closed => Decision::HandOff,
            State::Open {
                last_attempt,
                skipped_since_attempt,
                skipped_invocations,
                ..
            } => {
                let due = *skipped_since_attempt >= self.policy.probe_after_skips.max(1)
                    || (*skipped_since_attempt >= 1
                        && now.saturating_duration_since(*last_attempt)
                            >= self.policy.probe_interval);
                if due {
                    *last_attempt = now;
                    *skipped_since_attempt = 0;
                    Decision::Probe
                } else {
                    *skipped_since_attempt += 1;
                    *skipped_invocations += 1;
                    Decision::Skip
                }
            }
        }
    }

    /// Counts `spans` dropped (by a skipped or failed hand-off).
    pub fn dropped(&mut self, spans: usize) {
        self.dropped_total += spans as u64;
        if let State::Open { dropped_spans, .. } = &mut self.state {
            *dropped_spans += spans as u64;
        }
    }

    /// A hand-off (or probe) attempted at `now` failed. Returns the transition when this opens the
    /// breaker.
    pub fn failed(&mut self, now: Instant, reason: Failure) -> Option<Transition> {
        match &mut self.state {
            State::Closed => {
                self.state = State::Open {
                    reason: reason.clone(),
                    opened_at: now,
                    last_attempt: now,
                    skipped_since_attempt: 0,
                    skipped_invocations: 0,
                    dropped_spans: 0,
                };
                Some(Transition::Opened { reason })
            }
            State::Open { last_attempt, .. } => {
                *last_attempt = now;
                None
            }
        }
    }

    /// A hand-off (or probe) at `now` succeeded. Returns the transition when this closes the breaker.
    pub fn succeeded(&mut self, now: Instant) -> Option<Transition> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Closed => None,
            State::Open {
                reason,
                opened_at,
                skipped_invocations,
                dropped_spans,
                ..
            } => Some(Transition::Closed {
                open_for: now.saturating_duration_since(opened_at),
                skipped_invocations,
                dropped_spans,
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
