//! INVOKE and SHUTDOWN handling: wait for the function to finish, flush per the policy, record the
//! post-runtime duration, and return so the caller can call `next`.
//!
//! # Knowing that the function has finished
//! Lambda tells an extension when an invocation starts (INVOKE), not when the function is done. The
//! handler's contract fills the gap: after its response, it hands off its metrics and spans in one
//! request that also says the invocation is over (or, as plain OTLP, its traces last, whose SERVER span
//! carries `faas.invocation_id`; see [`super::completion`]). That is the fast path. Every other invocation ends at
//! Lambda's `platform.runtimeDone` (any status), which rapid sends once the runtime called `next`, after
//! the function's hand-off; it reaches the sidecar one Telemetry API buffering period later (>= 25 ms).
//! A `platform.report` for the invocation ends the wait too, should its `runtimeDone` never come.
//!
//! The wait is bounded by `flush.completion_timeout_ms` after the INVOKE event (never past the
//! invocation's own deadline). Without a Telemetry API (the Runtime Interface Emulator) that bound is the
//! only end for a function that exports nothing.
//!
//! # Knowing that the function is silent
//! The sidecar cannot tell a silent function from a slow one before `runtimeDone` is delivered, so the
//! first invocation without the function's signal waits for it. Once an invocation has ended without
//! the function's signal (not even late), the function evidently exports nothing (or not to us): the
//! next invocations do not wait at all (waiting would only add billed time), until a root span or
//! signal shows the function exports again. Nothing is lost when the function exports only sometimes:
//! data that arrives after the sidecar called `next` lands in the buffer (the sandbox is not frozen
//! until the runtime calls `next` too) and goes out at a later flush, and its root span turns waiting
//! back on for the following invocation.
//!
//! # Bounding the cost of a slow backend
//! After the function finished, an export may hold `next` for at most `flush.max_delay_ms` (default
//! 300 ms). An export still running then keeps going in the background and is awaited again (with the
//! same bound) at the next invocation end; its data is never dropped for being slow.
//!
//! # SHUTDOWN
//! Everything buffered is exported with retries bounded by Lambda's deadline minus
//! `flush.shutdown_margin_ms`; what is still undelivered then is logged as lost, with counts.

use super::completion::Completions;
use super::flush::{AtEnd, AtInvoke, FlushControl};
use super::flusher::Flusher;
use crate::config::FlushConfig;
use crate::pipeline::stats::Stats;
use crate::telemetry::TelemetryApi;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Rounds of export at SHUTDOWN (each round retries within itself).
const SHUTDOWN_ROUNDS: usize = 3;

/// The lifecycle state machine driven by the Extensions API events.
#[derive(Debug)]
pub struct Controller {
    policy: FlushControl,
    flusher: Flusher,
    completions: Arc<Completions>,
    config: FlushConfig,
    stats: Arc<Stats>,
    previous_invocation: Option<String>,
    /// Whether to wait for the end of the invocation (see "Knowing that the function is silent").
    wait_for_root_span: bool,
    telemetry: Option<TelemetryApi>,
}

impl Controller {
    /// A controller for `config`, flushing through `flusher`.
    pub fn new(
        config: FlushConfig,
        flusher: Flusher,
        completions: Arc<Completions>,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            policy: FlushControl::new(config),
            flusher,
            completions,
            config,
            stats,
            previous_invocation: None,
            wait_for_root_span: true,
            telemetry: None,
        }
    }

    /// Adds the Telemetry API side: its `faas.*` metrics are exported with each flush, its last events
    /// awaited at SHUTDOWN.
    pub fn with_telemetry(mut self, telemetry: TelemetryApi) -> Self {
        self.flusher = self.flusher.with_faas_metrics(telemetry.metrics());
        self.telemetry = Some(telemetry);
        self
    }

    /// Handles one INVOKE; returns when the sidecar may call `next`.
    pub async fn on_invoke(&mut self, request_id: &str, deadline_ms: u64) {
        let invoked = Instant::now();
        self.update_waiting();
        if self
            .policy
            .on_invoke(invoked.into_std(), self.flusher.has_buffered())
            == AtInvoke::StartExport
        {
            self.flusher.start(None);
        }

        let wait_until = if self.wait_for_root_span {
            (invoked + self.config.completion_timeout).min(instant_at(deadline_ms))
        } else {
            invoked
        };
        let finished = self.completions.wait(request_id, wait_until).await;
        let done = Instant::now();
        if !finished && self.wait_for_root_span {
            tracing::debug!(
                message = "no end-of-invocation signal before the completion timeout",
                request_id
            );
        }

        let decision = self
            .policy
            .on_end(done.into_std(), self.flusher.has_buffered());
        let bound = done + self.config.max_delay;
        let idle = match decision {
            AtEnd::Export => self.flusher.flush(bound, None).await,
            AtEnd::AwaitRunning => self.flusher.wait(bound).await,
        };
        let post_runtime = done.elapsed();
        self.stats.record_post_runtime(post_runtime);
        if !idle {
            let (bytes, entries) = self.flusher.buffered();
            tracing::warn!(
                message = "export still running at the delay bound; continuing in the background",
                request_id,
                max_delay_ms = self.config.max_delay.as_millis() as u64,
                buffered_bytes = bytes,
                buffered_entries = entries
            );
        }
        tracing::debug!(
            message = "invocation done",
            request_id,
            finished_signal = finished,
            mode = self.policy.effective_mode().as_str(),
            flushed = decision == AtEnd::Export,
            post_runtime_us = post_runtime.as_micros() as u64
        );
        self.previous_invocation = Some(request_id.to_owned());
    }

    /// Handles SHUTDOWN: exports everything before Lambda's deadline (minus the margin).
    pub async fn on_shutdown(&mut self, reason: &str, deadline_ms: u64) {
        let now = Instant::now();
        let hard = instant_at(deadline_ms)
            .checked_sub(self.config.shutdown_margin)
            .unwrap_or(now)
            .max(now);
        tracing::info!(
            message = "shutdown: flushing",
            reason,
            budget_ms = hard.saturating_duration_since(now).as_millis() as u64
        );
        if let Some(telemetry) = &self.telemetry {
            // The last invocation's platform.report is generated once every extension has called `next`,
            // i.e. just before SHUTDOWN: give it at most half the budget to arrive.
            let settle_until = now + hard.saturating_duration_since(now) / 2;
            telemetry.settle_and_drain(settle_until).await;
        }
        self.flusher.queue_metric_snapshots();
        for _ in 0..SHUTDOWN_ROUNDS {
            if !self.flusher.wait(hard).await {
                break;
            }
            if !self.flusher.start(Some(hard)) {
                break;
            }
        }
        self.flusher.wait(hard).await;
        let (bytes, entries) = self.flusher.buffered();
        let running = self.flusher.is_running();
        if entries > 0 || running {
            tracing::error!(
                message = "shutdown deadline reached with telemetry not delivered",
                buffered_bytes = bytes,
                buffered_entries = entries,
                export_in_flight = running
            );
        } else {
            let (count, sum_ms, max_ms) = self.stats.post_runtime_summary();
            tracing::info!(
                message = "shutdown: everything exported",
                invocations = count,
                mean_post_runtime_ms = if count > 0 {
                    sum_ms / count as f64
                } else {
                    0.0
                },
                max_post_runtime_ms = max_ms
            );
        }
    }

    fn update_waiting(&mut self) {
        let Some(previous) = self.previous_invocation.as_deref() else {
            return;
        };
        let delivered = self.completions.signalled_by_function(previous);
        if delivered != self.wait_for_root_span {
            if delivered {
                tracing::info!(
                    message =
                        "the function sends root spans again; waiting for them before flushing"
                );
            } else {
                tracing::info!(
                    message = "no root span with faas.invocation_id received for the previous invocation; no longer waiting for one",
                    previous_request_id = previous
                );
            }
            self.wait_for_root_span = delivered;
        }
    }
}

/// The monotonic instant of a wall-clock deadline in Unix milliseconds (now, if it is already past).
fn instant_at(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests;
