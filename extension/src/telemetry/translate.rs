//! The state machine from Telemetry API events to OpenTelemetry data.
//!
//! Platform events of one invocation arrive over several batches, in rapid's order (`doInvoke`,
//! aws-lambda-runtime-interface-emulator `internal/lambda/rapid/handlers.go`): `start`, then
//! `runtimeDone` once the runtime called `next` again, then `report` once every extension called `next`
//! too, so usually in the next thaw's first batch, or at SHUTDOWN. The translator keeps each invocation
//! from its `start` until its `report`, then emits its spans with the report's figures. Metrics count
//! each started invocation once, as soon as its outcome is known (`runtimeDone`, else `report`, else
//! when it is emitted without either).
//!
//! Bad input never double-counts and never loses an invocation: each batch is put in time order first
//! (stable, so records with the same millisecond keep Lambda's order); a `runtimeDone` or `report` for a
//! request id that never started, a record already received for its invocation, and a record for an
//! invocation already emitted are skipped and counted by reason (`unknown_request_id`, `duplicate`,
//! `late`). Every `runtimeDone` and `report` still tells the lifecycle the invocation is over.
//!
//! Init (and SnapStart restore) events are kept until the first invocation so that, for an on-demand
//! cold start, the `Initialization` span goes into that invocation's trace: it and the `Invocation` span
//! become siblings under a `ColdStart` span covering both (a child must not precede its parent); a
//! provisioned-concurrency init, which nobody waited for, gets its own trace. [`Translator::drain`] emits
//! whatever is still open (at SHUTDOWN), so nothing waits forever.

use super::cold_start;
use super::events::{Event, EventBody, Report, RuntimeDone, Start, UnixNanos};
use super::invocation::Invocation;
use super::logs::{LineContext, Source, log_record};
use super::metrics::{FaasMetrics, InvocationFigures};
use super::otlp;
use super::parse::Skipped;
use super::spans::{Phase, place};
use super::xray;
use crate::lifecycle::completion::Completions;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::VecDeque;
use std::sync::Arc;

/// Invocations kept waiting for their report; beyond this the oldest is emitted as it is.
const MAX_OPEN: usize = 64;

/// Emitted invocations remembered, to tell a duplicate or late record from an unknown request id.
const REMEMBERED_CLOSED: usize = 256;

/// The invocation records received for one request id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    start: bool,
    done: bool,
    report: bool,
}

impl Seen {
    fn of(invocation: &Invocation) -> Self {
        Self {
            start: invocation.start.is_some(),
            done: invocation.done.is_some(),
            report: invocation.report.is_some(),
        }
    }
}

/// What a batch produced.
#[derive(Debug, Default)]
pub struct Produced {
    /// Finished spans.
    pub spans: Vec<Span>,
    /// Log records.
    pub logs: Vec<LogRecord>,
    /// Invocations Lambda reported over (`platform.runtimeDone` of any status, or `platform.report`),
    /// in order, duplicates and unknown ids included: the lifecycle stops waiting for them (see
    /// [`crate::lifecycle::completion`]).
    pub ended: Vec<String>,
    /// Records that did not fit the invocations seen so far.
    pub skipped: Vec<Skipped>,
}

/// Telemetry API events in, spans and logs out; metrics go to [`FaasMetrics`].
#[derive(Debug)]
pub struct Translator {
    metrics: Arc<FaasMetrics>,
    trigger: &'static str,
    init: Phase,
    init_type: Option<String>,
    restore: Phase,
    phases_emitted: bool,
    open: VecDeque<Invocation>,
    closed: VecDeque<(String, Seen)>,
    current: Option<String>,
    invoked_before: bool,
}

impl Translator {
    /// A translator counting into `metrics`, tagging spans with `faas.trigger = trigger`.
    pub fn new(metrics: Arc<FaasMetrics>, trigger: &'static str) -> Self {
        Self {
            metrics,
            trigger,
            init: Phase::default(),
            init_type: None,
            restore: Phase::default(),
            phases_emitted: false,
            open: VecDeque::new(),
            closed: VecDeque::new(),
            current: None,
            invoked_before: false,
        }
    }

    /// Processes a batch's events in time order (a stable sort: records of the same millisecond keep
    /// Lambda's order, an invocation's `start` first and its `report` last). `completions` tells which
    /// root span the function sent for an invocation (to place Lambda's spans in the same trace).
    pub fn apply(&mut self, mut events: Vec<Event>, completions: &Completions) -> Produced {
        let mut out = Produced::default();
        events.sort_by_key(|event| (event.time, rank(&event.body)));
        for event in events {
            let time = event.time;
            match event.body {
                EventBody::InitStart(_) if self.init.started == Some(time) => {
                    out.skipped.push(Skipped::redelivered("platform.initStart"));
                }
                EventBody::InitReport(_)
                    if self.init.report.as_ref().is_some_and(|(t, _)| *t == time) =>
                {
                    out.skipped
                        .push(Skipped::redelivered("platform.initReport"));
                }
                EventBody::InitStart(start) => {
                    self.init_type.clone_from(&start.initialization_type);
                    self.init = Phase::started(time, &start);
                }
                EventBody::InitRuntimeDone(done) => self.init.done = Some((time, done)),
                EventBody::InitReport(report) => {
                    self.init.report = Some((time, report));
                    if let Some(ms) = self.init.reported_ms() {
                        self.metrics.init_duration(ms);
                    }
                    if !self.init_is_cold() && !self.phases_emitted {
                        // Provisioned concurrency: nobody waited; the span stands on its own.
                        self.phases_emitted = true;
                        let placement = place(None, None, otlp::new_span_id());
                        out.spans
                            .extend(self.init.spans("Initialization", &placement, false));
                    }
                }
                EventBody::RestoreStart(start) => self.restore = Phase::started(time, &start),
                EventBody::RestoreRuntimeDone(done) => self.restore.done = Some((time, done)),
                EventBody::RestoreReport(report) => self.restore.report = Some((time, report)),
                EventBody::Start(start) => self.on_start(time, start, completions, &mut out),
                EventBody::RuntimeDone(done) => self.on_runtime_done(time, done, &mut out),
                EventBody::Report(report) => self.on_report(time, report, completions, &mut out),
                EventBody::LogsDropped(dropped) => {
                    let records = dropped.dropped_records.unwrap_or(0);
                    self.metrics.lambda_dropped(records);
                    tracing::warn!(
                        message = "Lambda dropped telemetry records before delivering them",
                        records,
                        bytes = dropped.dropped_bytes.unwrap_or(0),
                        reason = dropped.reason.as_deref().unwrap_or("")
                    );
                }
                EventBody::Extension(_) | EventBody::TelemetrySubscription(_) => {}
                EventBody::FunctionLog(line) => {
                    let context = self.line_context(completions);
                    out.logs
                        .push(log_record(time, &line, Source::Function, &context));
                }
                EventBody::ExtensionLog(line) => {
                    let context = self.line_context(completions);
                    out.logs
                        .push(log_record(time, &line, Source::Extension, &context));
                }
            }
        }
        out
    }

    /// Emits everything still open (at SHUTDOWN): invocations without a report, an init phase without
    /// an invocation.
    pub fn drain(&mut self, completions: &Completions) -> Produced {
        let mut out = Produced::default();
        while let Some(invocation) = self.open.pop_front() {
            out.spans.extend(self.emit(invocation, completions));
        }
        if !self.phases_emitted {
            self.phases_emitted = true;
            for (name, phase, cold) in [
                ("Initialization", &self.init, self.init_is_cold()),
                ("Restore", &self.restore, true),
            ] {
                if phase.seen() {
                    let placement = place(None, None, otlp::new_span_id());
                    out.spans.extend(phase.spans(name, &placement, cold));
                }
            }
        }
        out
    }

    /// Invocations waiting for their report.
    pub fn open_invocations(&self) -> usize {
        self.open.len()
    }

    fn init_is_cold(&self) -> bool {
        self.init_type.as_deref() != Some("provisioned-concurrency")
    }

    fn on_start(
        &mut self,
        time: UnixNanos,
        start: Start,
        completions: &Completions,
        out: &mut Produced,
    ) {
        if let Some(seen) = self.seen(&start.request_id) {
            out.skipped.push(Skipped::out_of_place(
                seen.start,
                "platform.start",
                start.request_id,
            ));
            return;
        }
        let first = !self.invoked_before;
        self.invoked_before = true;
        let coldstart = first && self.init_is_cold();
        if coldstart {
            self.metrics.coldstart();
        }
        self.current = Some(start.request_id.clone());
        let invocation = self.open_invocation(&start.request_id, out, completions);
        invocation.coldstart = coldstart;
        invocation.xray = xray::from_trace_context(start.tracing.as_ref());
        invocation.start = Some((time, start));
    }

    fn on_runtime_done(&mut self, time: UnixNanos, done: RuntimeDone, out: &mut Produced) {
        out.ended.push(done.request_id.clone());
        if self.current.as_deref() == Some(done.request_id.as_str()) {
            self.current = None;
        }
        let Some(invocation) = self
            .open
            .iter_mut()
            .find(|i| i.request_id == done.request_id && i.done.is_none())
        else {
            let seen = self.seen(&done.request_id);
            out.skipped.push(match seen {
                Some(seen) => {
                    Skipped::out_of_place(seen.done, "platform.runtimeDone", done.request_id)
                }
                None => Skipped::UnknownRequestId {
                    kind: "platform.runtimeDone",
                    request_id: done.request_id,
                },
            });
            return;
        };
        invocation.xray = invocation
            .xray
            .or_else(|| xray::from_trace_context(done.tracing.as_ref()));
        let figures = InvocationFigures::of(
            done.status.as_ref(),
            done.metrics.as_ref().and_then(|m| m.duration_ms),
        );
        let count = !invocation.counted;
        invocation.counted = true;
        invocation.done = Some((time, done));
        if count {
            self.metrics.invocation(figures);
        }
    }

    fn on_report(
        &mut self,
        time: UnixNanos,
        report: Report,
        completions: &Completions,
        out: &mut Produced,
    ) {
        out.ended.push(report.request_id.clone());
        let Some(index) = self
            .open
            .iter()
            .position(|i| i.request_id == report.request_id)
        else {
            let seen = self.seen(&report.request_id);
            out.skipped.push(match seen {
                Some(seen) => {
                    Skipped::out_of_place(seen.report, "platform.report", report.request_id)
                }
                None => Skipped::UnknownRequestId {
                    kind: "platform.report",
                    request_id: report.request_id,
                },
            });
            return;
        };
        let Some(mut invocation) = self.open.remove(index) else {
            return;
        };
        invocation.xray = invocation
            .xray
            .or_else(|| xray::from_trace_context(report.tracing.as_ref()));
        let metrics = report.metrics.clone().unwrap_or_default();
        if !invocation.counted {
            invocation.counted = true;
            self.metrics.invocation(InvocationFigures::of(
                report.status.as_ref(),
                metrics.duration_ms,
            ));
        }
        invocation.report = Some((time, report));
        let post_runtime_ms = invocation.post_runtime_ms();
        self.metrics.report(
            metrics.billed_duration_ms,
            metrics.max_memory_used_mb,
            metrics.memory_size_mb,
            post_runtime_ms,
        );
        out.spans.extend(self.emit(invocation, completions));
    }

    /// What was received for `request_id`, if it started (open or already emitted).
    fn seen(&self, request_id: &str) -> Option<Seen> {
        self.open
            .iter()
            .find(|i| i.request_id == request_id)
            .map(Seen::of)
            .or_else(|| {
                self.closed
                    .iter()
                    .find(|(id, _)| id == request_id)
                    .map(|(_, seen)| *seen)
            })
    }

    /// The open invocation `request_id`, created if new (emitting the oldest if too many are open).
    fn open_invocation(
        &mut self,
        request_id: &str,
        out: &mut Produced,
        completions: &Completions,
    ) -> &mut Invocation {
        let index = match self.open.iter().position(|i| i.request_id == request_id) {
            Some(index) => index,
            None => {
                if self.open.len() >= MAX_OPEN
                    && let Some(oldest) = self.open.pop_front()
                {
                    out.spans.extend(self.emit(oldest, completions));
                }
                self.open.push_back(Invocation::new(request_id));
                self.open.len() - 1
            }
        };
        &mut self.open[index]
    }

    /// Ids for a log line written during the current invocation: the function's root span if it was
    /// received, else Lambda's invocation span in the X-Ray trace; none if neither is known.
    fn line_context(&self, completions: &Completions) -> LineContext {
        let Some(id) = self.current.as_deref() else {
            return LineContext::default();
        };
        let mut context = LineContext {
            request_id: Some(id.to_owned()),
            ..LineContext::default()
        };
        if let Some(root) = completions.root_span(id) {
            context.trace_id = xray::bytes(&root.trace_id);
            context.span_id = xray::bytes(&root.span_id);
        } else if let Some(invocation) = self.open.iter().find(|i| i.request_id == id)
            && let Some(x) = invocation.xray
        {
            context.trace_id = Some(x.trace_id);
            context.span_id = Some(x.parent_id.unwrap_or(invocation.fresh_id));
        }
        context
    }

    /// The invocation's spans (and the cold start's phases beside it, under a common `ColdStart`
    /// span); counts it if neither `runtimeDone` nor `report` did, and remembers it as emitted.
    fn emit(&mut self, invocation: Invocation, completions: &Completions) -> Vec<Span> {
        if !invocation.counted {
            self.metrics.invocation(InvocationFigures::default());
        }
        if self.closed.len() == REMEMBERED_CLOSED {
            self.closed.pop_front();
        }
        self.closed
            .push_back((invocation.request_id.clone(), Seen::of(&invocation)));
        let root = completions.root_span(&invocation.request_id);
        let mut out = invocation.spans(root.as_ref(), self.trigger);
        if invocation.coldstart && !self.phases_emitted {
            self.phases_emitted = true;
            let phases: Vec<(&str, &Phase)> =
                [("Initialization", &self.init), ("Restore", &self.restore)]
                    .into_iter()
                    .filter(|(_, phase)| phase.seen())
                    .collect();
            if !phases.is_empty() {
                let covering =
                    cold_start::cover_cold_start(&mut out[0], &invocation, &phases, self.trigger);
                out.extend(covering);
            }
        }
        out
    }
}

/// Order within one millisecond when a batch arrives out of order: an invocation's `start` first, its
/// `report` last, everything else as delivered.
fn rank(body: &EventBody) -> u8 {
    match body {
        EventBody::Start(_) => 0,
        EventBody::Report(_) => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests;
