//! A reset (`internal/lambda/rapid/handlers.go` `handleReset`): an invocation cut short by its
//! deadline or a dead process; its `runtimeDone`, the shutdown, and init again on the next invoke.

use super::invoke::produced_bytes;
use super::{Inner, Interrupt, Life};
use crate::event::{ms, span};
use crate::process::Kind;
use crate::sandbox::{Finished, Outcome};
use crate::shutdown::{self, ShutdownReason, ShutdownReport};
use crate::state::Answer;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl Inner {
    /// `handleReset` for an invocation cut short before `runtimeDone`: that event with status
    /// timeout / error, the shutdown with the same reason, then the report.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn reset(
        &self,
        life: &mut Life,
        interrupt: Interrupt,
        request_id: String,
        started: Instant,
        runtime_started: Instant,
        answered: Option<(Answer, Instant, Instant)>,
        header: String,
        tracing: Value,
        cold: Option<Duration>,
        respond: &mut impl FnMut(Outcome),
    ) -> Finished {
        let shared = &self.shared;
        let (status, error_type, reason) = interrupted(&interrupt, self.config.timeout);
        let outcome = if status == "timeout" {
            Outcome::Timeout
        } else {
            Outcome::Failure {
                error_type: error_type.clone().unwrap_or_default(),
                reason,
            }
        };
        respond(outcome.clone());
        let now = Instant::now();
        // GetRuntimeDoneInvokeMetrics / GetRuntimeDoneSpans: response spans only if it responded.
        let mut spans = Vec::new();
        let mut produced = 0;
        if let Some((answer, answer_started, answer_finished)) = &answered {
            produced = produced_bytes(answer);
            spans.push(span(
                &shared.clock,
                "responseLatency",
                runtime_started,
                *answer_started,
            ));
            spans.push(span(
                &shared.clock,
                "responseDuration",
                *answer_started,
                *answer_finished,
            ));
            spans.push(span(
                &shared.clock,
                "runtimeOverhead",
                *answer_finished,
                now,
            ));
        }
        let mut runtime_done = json!({
            "requestId": request_id,
            "status": status,
            "metrics": {"durationMs": ms(now.duration_since(runtime_started)), "producedBytes": produced},
            "spans": spans,
            "tracing": tracing,
        });
        if let Some(error_type) = &error_type {
            runtime_done["errorType"] = json!(error_type);
        }
        shared.emit(now, "platform.runtimeDone", runtime_done.clone());
        let report = self.stop_after(life, &interrupt).await;
        let duration = match interrupt {
            Interrupt::Deadline => self.config.timeout,
            Interrupt::Died { .. } => now.duration_since(started),
        };
        let record = self.report(
            &request_id,
            status,
            error_type.as_deref(),
            duration,
            cold,
            &[],
            &tracing,
        );
        Finished {
            request_id,
            outcome,
            cold: cold.is_some(),
            trace_header: header,
            runtime_done,
            report: record,
            reset: Some(report),
            released_at: shared.clock.wall(runtime_started),
            answered_at: answered.as_ref().map(|(_, _, at)| shared.clock.wall(*at)),
            runtime_next_at: None,
        }
    }

    /// The reset's shutdown; the next invoke runs init again.
    pub(super) async fn stop_after(
        &self,
        life: &mut Life,
        interrupt: &Interrupt,
    ) -> ShutdownReport {
        let reason = match interrupt {
            Interrupt::Deadline => ShutdownReason::Timeout,
            Interrupt::Died { .. } => ShutdownReason::Failure,
        };
        let processes = self.take_processes();
        let report = shutdown::stop(self, processes, reason).await;
        self.shared.update(|s| s.current = None);
        life.needs_init = true;
        report
    }
}

/// Status, errorType and a sentence for an interrupted invocation (`handleReset`: timeout has no
/// errorType; a dead process is `Runtime.ExitError` / `Extension.Crash`, status error).
pub(super) fn interrupted(
    interrupt: &Interrupt,
    timeout: Duration,
) -> (&'static str, Option<String>, String) {
    match interrupt {
        Interrupt::Deadline => (
            "timeout",
            None,
            format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
        ),
        Interrupt::Died { name, kind } => {
            let error_type = match kind {
                Kind::Runtime => "Runtime.ExitError",
                Kind::Extension => "Extension.Crash",
            };
            (
                "error",
                Some(error_type.into()),
                format!("{name} exited during the invocation"),
            )
        }
    }
}
