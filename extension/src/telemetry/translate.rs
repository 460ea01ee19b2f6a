//! The state machine from Telemetry API events to OpenTelemetry data.
//!
//! Platform events of one invocation arrive over several batches (`start` … `runtimeDone` during or just
//! after the invocation, `report` only after every extension has called `next`, so usually in the next
//! thaw's first batch, or at SHUTDOWN). The translator keeps each invocation until its `report`, then
//! emits the `Invocation` span with the report's figures; metrics are counted as soon as the outcome is
//! known (`runtimeDone`). Init (and SnapStart restore) events are kept until the first invocation so
//! that, for an on-demand cold start, the `Initialization` span goes into that invocation's trace, under
//! its `Invocation` span; a provisioned-concurrency init, which nobody waited for, gets its own trace.
//! [`Translator::drain`] emits whatever is still open (at SHUTDOWN), so nothing waits forever.

use super::events::{Event, EventBody, InitStart, Report, Start, Status, UnixNanos};
use super::invocation::Invocation;
use super::logs::{LineContext, Source, log_record};
use super::metrics::{FaasMetrics, InvocationFigures};
use super::otlp;
use super::spans::{Phase, Placement, place};
use super::xray::{self, XrayContext};
use crate::lifecycle::completion::Completions;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use std::collections::VecDeque;
use std::sync::Arc;

/// Invocations kept waiting for their report; beyond this the oldest is emitted as it is.
const MAX_OPEN: usize = 64;

/// What a batch produced.
#[derive(Debug, Default)]
pub struct Produced {
    /// Finished spans.
    pub spans: Vec<Span>,
    /// Log records.
    pub logs: Vec<LogRecord>,
    /// Invocations the runtime ended without success (`platform.runtimeDone` with status `error`,
    /// `failure` or `timeout`): their root span may never come, so the flush controller stops waiting.
    /// A successful `runtimeDone` is not a completion signal: the function exports its spans after
    /// its response, and Lambda (or an emulator) may report `runtimeDone` as soon as the response is
    /// posted, before those spans reached the sidecar.
    pub ended_abnormally: Vec<String>,
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
            current: None,
            invoked_before: false,
        }
    }

    /// Processes events in delivery order. `completions` tells which root span the function sent for
    /// an invocation (to place Lambda's spans in the same trace).
    pub fn apply(&mut self, events: Vec<Event>, completions: &Completions) -> Produced {
        let mut out = Produced::default();
        for event in events {
            let time = event.time;
            match event.body {
                EventBody::InitStart(start) => {
                    self.init_type.clone_from(&start.initialization_type);
                    self.init = started(time, &start);
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
                EventBody::RestoreStart(start) => self.restore = started(time, &start),
                EventBody::RestoreRuntimeDone(done) => self.restore.done = Some((time, done)),
                EventBody::RestoreReport(report) => self.restore.report = Some((time, report)),
                EventBody::Start(start) => self.on_start(time, start, completions, &mut out),
                EventBody::RuntimeDone(done) => {
                    if done.status.as_ref().is_some_and(|s| *s != Status::Success) {
                        out.ended_abnormally.push(done.request_id.clone());
                    }
                    if self.current.as_deref() == Some(done.request_id.as_str()) {
                        self.current = None;
                    }
                    let invocation = self.open_invocation(&done.request_id, &mut out, completions);
                    invocation.xray = invocation.xray.or_else(|| xray_of(done.tracing.as_ref()));
                    let figures = figures(
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
        let first = !self.invoked_before;
        self.invoked_before = true;
        let coldstart = first && self.init_is_cold();
        if coldstart {
            self.metrics.coldstart();
        }
        self.current = Some(start.request_id.clone());
        let invocation = self.open_invocation(&start.request_id, out, completions);
        invocation.coldstart = coldstart;
        invocation.xray = xray_of(start.tracing.as_ref()).or(invocation.xray);
        invocation.start = Some((time, start));
    }

    fn on_report(
        &mut self,
        time: UnixNanos,
        report: Report,
        completions: &Completions,
        out: &mut Produced,
    ) {
        let metrics_sink = self.metrics.clone();
        let invocation = self.open_invocation(&report.request_id, out, completions);
        invocation.xray = invocation.xray.or_else(|| xray_of(report.tracing.as_ref()));
        let metrics = report.metrics.clone().unwrap_or_default();
        let post_runtime_ms = invocation
            .done
            .as_ref()
            .map(|(done_at, _)| time.saturating_sub(*done_at) as f64 / 1e6);
        if !invocation.counted {
            invocation.counted = true;
            metrics_sink.invocation(figures(report.status.as_ref(), metrics.duration_ms));
        }
        let request_id = report.request_id.clone();
        invocation.report = Some((time, report));
        self.metrics.report(
            metrics.billed_duration_ms,
            metrics.max_memory_used_mb,
            metrics.memory_size_mb,
            post_runtime_ms,
        );
        if let Some(index) = self.open.iter().position(|i| i.request_id == request_id)
            && let Some(invocation) = self.open.remove(index)
        {
            out.spans.extend(self.emit(invocation, completions));
        }
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

    /// The invocation's spans (and the cold start's phases under it).
    fn emit(&mut self, invocation: Invocation, completions: &Completions) -> Vec<Span> {
        let root = completions.root_span(&invocation.request_id);
        let mut out = invocation.spans(root.as_ref(), self.trigger);
        if invocation.coldstart && !self.phases_emitted {
            self.phases_emitted = true;
            for (name, phase) in [("Initialization", &self.init), ("Restore", &self.restore)] {
                if phase.seen() {
                    let under = Placement {
                        trace_id: out[0].trace_id.clone(),
                        span_id: otlp::new_span_id().to_vec(),
                        parent_span_id: out[0].span_id.clone(),
                    };
                    out.extend(phase.spans(name, &under, true));
                }
            }
        }
        out
    }
}

fn started(time: UnixNanos, start: &InitStart) -> Phase {
    let mut attributes = Vec::new();
    for (key, value) in [
        ("aws.lambda.initialization_type", &start.initialization_type),
        ("aws.lambda.init_phase", &start.phase),
        ("aws.lambda.runtime_version", &start.runtime_version),
    ] {
        if let Some(value) = value {
            attributes.push(otlp::string(key, value.clone()));
        }
    }
    Phase {
        started: Some(time),
        attributes,
        done: None,
        report: None,
    }
}

fn xray_of(tracing: Option<&super::events::TraceContext>) -> Option<XrayContext> {
    let tracing = tracing?;
    if tracing
        .kind
        .as_deref()
        .is_some_and(|k| k != "X-Amzn-Trace-Id")
    {
        return None;
    }
    xray::parse(tracing.value.as_deref()?)
}

fn figures(status: Option<&Status>, duration_ms: Option<f64>) -> InvocationFigures {
    InvocationFigures {
        error: matches!(status, Some(Status::Error | Status::Failure)),
        timeout: matches!(status, Some(Status::Timeout)),
        duration_ms,
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
