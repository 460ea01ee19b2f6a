//! "The function has finished this invocation": the arrival of the invocation's root span, the
//! function's explicit signal, or Lambda's `platform.runtimeDone` (or `platform.report`) for it,
//! whichever comes first.
//!
//! The handler hands its telemetry off at the end of every invocation, after its response is sent and
//! before it calls the Runtime API's `next`, in one request: `POST /otel-sidecar/v1/invocations/{request
//! id}/handoff` (`sidecar-contract`) with its metrics and spans; the receiver buffers both, then signals
//! the end explicitly, before it answers. Any other function (or ours, against a plain OTLP receiver)
//! exports plain OTLP: `/v1/metrics`, then `/v1/traces`, whose SERVER span carries `faas.invocation_id` =
//! the Lambda request id and ends last. When a receiver has buffered a span with that attribute that is
//! either of kind SERVER or has no parent, every piece of telemetry of the invocation is already in the
//! buffer. Either way the sidecar can flush and call `next` at once, without waiting for the Telemetry
//! API (whose batches arrive >= 25 ms late). That is the fast path. On the plain path, an invocation
//! whose trace was not sampled has no root span: the handler POSTs
//! `/otel-sidecar/v1/invocations/{request id}/finished` after its metrics instead.
//!
//! `platform.runtimeDone`, whatever its status, is the fallback for every invocation whose function did
//! not say so itself (it exports nothing, crashed, timed out). Lambda sends it when the runtime calls
//! `next` again, i.e. after the function's hand-off: rapid's `doInvoke` (aws-lambda-runtime-interface-
//! emulator `internal/lambda/rapid/handlers.go`, lines 486-508) awaits `invokeFlow.AwaitRuntimeReady()`
//! (the runtime's `next`) before `eventsAPI.SendInvokeRuntimeDone`, and
//! `telemetry.GetRuntimeDoneInvokeMetrics` (`internal/lambda/telemetry/events_api.go`, line 15) measures
//! `durationMs` "from sending the invoke to the sandbox until the runtime calls GET /next". Whatever the
//! function exported before `next` is therefore in the buffer once `runtimeDone` is delivered.
//! After a timeout or a crash, `handleReset` (same file, lines 710-745) sends `runtimeDone` with status
//! `timeout`, `failure` or `error` before shutting the extensions down. `platform.report` comes after
//! the extensions' post-runtime phase (`AwaitAgentsReady`, `doInvoke` lines 510-519), so it is only a
//! last resort for a `runtimeDone` that never came.
//!
//! The wait is bounded (see [`crate::lifecycle::controller`]): a function that exports nothing, or
//! exports without the attribute, cannot stall the sidecar. The root span's ids and times are remembered
//! too: the Telemetry API side uses them to place Lambda's invocation span in the function's trace and
//! around the function's span.

use super::notice::Notice;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use tokio::time::Instant;

/// How many invocations are remembered (only the recent ones matter).
const REMEMBERED: usize = 64;

/// The ids of an invocation's root span, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSpan {
    /// Its trace id (16 bytes, as received).
    pub trace_id: Vec<u8>,
    /// Its span id (8 bytes, as received).
    pub span_id: Vec<u8>,
    /// Its parent's span id (empty when it started the trace).
    pub parent_span_id: Vec<u8>,
    /// Its start, in nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    /// Its end, in nanoseconds since the Unix epoch.
    pub end_unix_nano: u64,
}

#[derive(Debug)]
struct Finished {
    id: String,
    root: Option<RootSpan>,
    /// The function itself said so (root span or explicit signal), as opposed to Lambda.
    by_function: bool,
}

/// Finished invocation ids, with a notification on each arrival.
#[derive(Debug, Default)]
pub struct Completions {
    finished: Mutex<VecDeque<Finished>>,
    arrived: Notice,
}

impl Completions {
    /// Records that the root span of invocation `id` was received (call after buffering it).
    pub fn mark(&self, id: String, root: RootSpan) {
        self.record(id, Some(root), true);
    }

    /// Records the function's explicit "finished" signal for invocation `id` (sent instead of a root
    /// span when the invocation's trace was not sampled, so there is no root span to wait for).
    pub fn mark_signalled(&self, id: String) {
        self.record(id, None, true);
    }

    /// Records that Lambda reported invocation `id` over (its `platform.runtimeDone`, whatever the
    /// status, or its `platform.report`). Idempotent; it never counts as the function's own signal.
    pub fn mark_runtime_done(&self, id: String) {
        self.record(id, None, false);
    }

    fn record(&self, id: String, root: Option<RootSpan>, by_function: bool) {
        {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            match finished.iter_mut().find(|f| f.id == id) {
                Some(known) => {
                    if root.is_some() {
                        known.root = root;
                    }
                    known.by_function |= by_function;
                }
                None => {
                    if finished.len() == REMEMBERED {
                        finished.pop_front();
                    }
                    finished.push_back(Finished {
                        id,
                        root,
                        by_function,
                    });
                }
            }
        }
        self.arrived.announce();
    }

    /// Whether the function itself signalled the end of invocation `id` (its root span, or the
    /// explicit signal): whether it is worth waiting for the function's signal next time.
    pub fn signalled_by_function(&self, id: &str) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|f| f.id == id && f.by_function)
    }

    /// Whether invocation `id` is known to be finished (root span, signal, `runtimeDone` or report).
    pub fn is_finished(&self, id: &str) -> bool {
        self.finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|f| f.id == id)
    }

    /// The root span received for invocation `id`, if any: whether the function delivers root spans.
    pub fn root_span(&self, id: &str) -> Option<RootSpan> {
        self.finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|f| f.id == id)
            .and_then(|f| f.root.clone())
    }

    /// Waits until `id` finished or `deadline` passes; returns whether it finished.
    pub async fn wait(&self, id: &str, deadline: Instant) -> bool {
        self.arrived
            .wait_for(deadline, || self.is_finished(id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn root(byte: u8) -> RootSpan {
        RootSpan {
            trace_id: vec![byte; 16],
            span_id: vec![byte; 8],
            parent_span_id: Vec::new(),
            start_unix_nano: 1,
            end_unix_nano: 2,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wakes_on_the_matching_id_and_times_out_otherwise() {
        let completions = Arc::new(Completions::default());
        let started = Instant::now();
        let waiter = {
            let completions = completions.clone();
            tokio::spawn(async move {
                completions
                    .wait("b", Instant::now() + Duration::from_secs(5))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        completions.mark("a".into(), root(1));
        tokio::time::sleep(Duration::from_millis(10)).await;
        completions.mark_runtime_done("b".into());
        assert!(waiter.await.unwrap());
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(40),
            "woken at b's arrival, after a's arrival did not end the wait"
        );
        let started = Instant::now();
        assert!(
            !completions
                .wait("c", Instant::now() + Duration::from_millis(10))
                .await
        );
        assert_eq!(started.elapsed(), Duration::from_millis(10));
    }

    #[test]
    fn runtime_done_finishes_without_claiming_a_root_span() {
        let completions = Completions::default();
        completions.mark_runtime_done("a".into());
        assert!(completions.is_finished("a"));
        assert_eq!(completions.root_span("a"), None);
        assert!(!completions.signalled_by_function("a"));
        completions.mark_signalled("b".into());
        assert!(completions.is_finished("b") && completions.signalled_by_function("b"));
        assert_eq!(completions.root_span("b"), None);
        // The root span arriving after runtimeDone (or before it) is kept either way.
        completions.mark("a".into(), root(7));
        completions.mark_runtime_done("a".into());
        assert_eq!(completions.root_span("a"), Some(root(7)));
    }

    #[test]
    fn remembers_a_bounded_number_of_ids() {
        let completions = Completions::default();
        for i in 0..(REMEMBERED + 10) {
            completions.mark(i.to_string(), root(1));
        }
        assert!(!completions.is_finished("0"));
        assert!(completions.is_finished(&(REMEMBERED + 9).to_string()));
    }
}
