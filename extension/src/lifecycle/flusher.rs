//! How a flush runs: add the metric snapshots (`faas.*`, the sidecar's own), drain the buffer into one
//! background export job at a time, wait for it with a deadline, and put back what could not be
//! delivered.
//!
//! A job is never aborted when a wait times out: it keeps its data and carries on (across a freeze, if
//! Lambda freezes the sandbox meanwhile), then restores failures to the buffer. That is what makes a slow
//! backend cost at most the wait bound per invocation without losing or duplicating the data in flight.

use crate::exporter::Exporters;
use crate::pipeline::resource::Enricher;
use crate::pipeline::stats::Stats;
use crate::pipeline::{Entry, PerSignal, SharedBuffer, Signal};
use crate::telemetry::metrics::FaasMetrics;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Owns the running export job, if any.
#[derive(Debug)]
pub struct Flusher {
    buffer: SharedBuffer,
    exporters: Arc<Exporters>,
    enricher: Arc<Enricher>,
    stats: Arc<Stats>,
    faas_metrics: Option<Arc<FaasMetrics>>,
    running: Option<JoinHandle<()>>,
    logged_drops: PerSignal<u64>,
}

impl Flusher {
    /// A flusher moving data from `buffer` to `exporters`.
    pub fn new(
        buffer: SharedBuffer,
        exporters: Arc<Exporters>,
        enricher: Arc<Enricher>,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            buffer,
            exporters,
            enricher,
            stats,
            faas_metrics: None,
            running: None,
            logged_drops: PerSignal::default(),
        }
    }

    /// Also exports the Telemetry API side's `faas.*` aggregates.
    pub fn with_faas_metrics(mut self, metrics: Arc<FaasMetrics>) -> Self {
        self.faas_metrics = Some(metrics);
        self
    }

    /// Buffers the `faas.*` snapshot if it changed (aggregates go out as one cumulative snapshot per
    /// flush, not one point per event), then notes the buffer's drops. That snapshot is the function's
    /// telemetry: exported and printed like the rest, and worth an export of its own.
    fn queue_faas_metrics(&mut self) {
        if let Some(report) = self.faas_metrics.as_ref().and_then(|m| m.take_report()) {
            self.buffer.lock().push(Entry::new(&report));
        }
        self.note_drops();
    }

    /// The sidecar's own counters, if they changed: they ride along with an export that happens anyway,
    /// are only sent to a remote backend, and are never printed (not worth a console line each time).
    fn take_own_metrics(&self) -> Option<Entry> {
        if !self.exporters.is_remote() {
            return None;
        }
        let report = self.stats.take_report(self.enricher.attributes())?;
        Some(Entry {
            printed: true,
            ..Entry::new(&report)
        })
    }

    pub fn is_running(&mut self) -> bool {
        if self.running.as_ref().is_some_and(JoinHandle::is_finished) {
            self.running = None;
        }
        self.running.is_some()
    }

    /// Starts a job exporting everything buffered now, unless one is running or there is nothing to send.
    /// `deadline` bounds the job's retries (used at SHUTDOWN); `None` lets it use its full retry policy.
    pub fn start(&mut self, deadline: Option<Instant>) -> bool {
        if self.is_running() {
            return false;
        }
        self.queue_faas_metrics();
        let mut entries = {
            let mut buffer = self.buffer.lock();
            if buffer.is_empty() {
                return false;
            }
            buffer.drain()
        };
        entries.extend(self.take_own_metrics());
        let (buffer, exporters, enricher) = (
            self.buffer.clone(),
            self.exporters.clone(),
            self.enricher.clone(),
        );
        self.running = Some(tokio::spawn(async move {
            let kept = exporters.export(entries, &enricher, deadline).await;
            if !kept.is_empty() {
                buffer.lock().restore(kept);
            }
        }));
        true
    }

    /// Buffers the metric snapshots now if they changed (at SHUTDOWN, so the last figures go out too).
    pub fn queue_metric_snapshots(&mut self) {
        self.queue_faas_metrics();
        if let Some(entry) = self.take_own_metrics() {
            self.buffer.lock().push(entry);
        }
    }

    /// Waits for the running job until `until`; returns whether no job is running any more.
    pub async fn wait(&mut self, until: Instant) -> bool {
        let Some(job) = self.running.as_mut() else {
            return true;
        };
        match tokio::time::timeout_at(until, job).await {
            Ok(_) => {
                self.running = None;
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for a running job, then exports what is buffered, all before `until`.
    pub async fn flush(&mut self, until: Instant, deadline: Option<Instant>) -> bool {
        if !self.wait(until).await {
            return false;
        }
        self.start(deadline);
        self.wait(until).await
    }

    pub fn has_buffered(&self) -> bool {
        !self.buffer.lock().is_empty()
    }

    /// Buffered bytes and entries, for logs.
    pub fn buffered(&self) -> (usize, usize) {
        let buffer = self.buffer.lock();
        (buffer.bytes(), buffer.len())
    }

    fn note_drops(&mut self) {
        let dropped = self.buffer.lock().dropped();
        if dropped != self.logged_drops {
            let new = |signal: Signal| dropped[signal] - self.logged_drops[signal];
            tracing::warn!(
                message = "buffer full: oldest telemetry dropped",
                dropped_spans = new(Signal::Traces),
                dropped_data_points = new(Signal::Metrics),
                dropped_log_records = new(Signal::Logs),
                total_spans = dropped[Signal::Traces],
                total_data_points = dropped[Signal::Metrics],
                total_log_records = dropped[Signal::Logs]
            );
            self.logged_drops = dropped;
            self.stats.set_dropped(dropped);
        }
    }
}
