//! How a flush runs: drain the buffer into one background export job at a time, wait for it with a
//! deadline, and put back what could not be delivered.
//!
//! A job is never aborted when a wait times out: it keeps its data and carries on (across a freeze, if
//! Lambda freezes the sandbox meanwhile), then restores failures to the buffer. That is what makes a slow
//! backend cost at most the wait bound per invocation without losing or duplicating the data in flight.

use crate::exporter::Exporters;
use crate::pipeline::resource::Enricher;
use crate::pipeline::stats::Stats;
use crate::pipeline::{Entry, Payload, SharedBuffer};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Aggregated metrics exported as a cumulative snapshot with each flush (not one point per event).
pub trait MetricSnapshot: std::fmt::Debug + Send + Sync {
    /// The snapshot, if anything changed since the last one.
    fn take_report(&self) -> Option<Payload>;
}

/// Owns the running export job, if any.
#[derive(Debug)]
pub struct Flusher {
    snapshots: Vec<Arc<dyn MetricSnapshot>>,
    buffer: SharedBuffer,
    exporters: Arc<Exporters>,
    enricher: Arc<Enricher>,
    stats: Arc<Stats>,
    running: Option<JoinHandle<()>>,
    logged_drops: [u64; 3],
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
            snapshots: Vec::new(),
            buffer,
            exporters,
            enricher,
            stats,
            running: None,
            logged_drops: [0; 3],
        }
    }

    /// Adds a metrics source snapshotted at each flush.
    pub fn with_snapshot(mut self, source: Arc<dyn MetricSnapshot>) -> Self {
        self.snapshots.push(source);
        self
    }

    /// Buffers the snapshots that changed.
    fn queue_snapshots(&self) {
        for source in &self.snapshots {
            if let Some(report) = source.take_report() {
                self.buffer.lock().push(Entry::new(&report));
            }
        }
    }

    /// Whether an export job is still running.
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
        self.queue_snapshots();
        self.note_drops();
        let entries = {
            let mut buffer = self.buffer.lock();
            if buffer.is_empty() {
                return false;
            }
            buffer.drain()
        };
        let mut entries = entries;
        if self.exporters.is_remote()
            && let Some(report) = self.stats.take_report(self.enricher.attributes())
        {
            let mut entry = Entry::new(&report);
            entry.printed = true; // the sidecar's own metrics are not worth a console line each time
            entries.push(entry);
        }
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

    /// Buffers the sidecar's own metrics now if they changed (at SHUTDOWN, so the last figures go out too).
    pub fn queue_self_report(&mut self) {
        self.queue_snapshots();
        self.note_drops();
        if self.exporters.is_remote()
            && let Some(report) = self.stats.take_report(self.enricher.attributes())
        {
            let mut entry = Entry::new(&report);
            entry.printed = true;
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

    /// Whether anything is buffered.
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
            let new = |i: usize| dropped[i] - self.logged_drops[i];
            tracing::warn!(
                message = "buffer full: oldest telemetry dropped",
                dropped_spans = new(0),
                dropped_data_points = new(1),
                dropped_log_records = new(2),
                total_spans = dropped[0],
                total_data_points = dropped[1],
                total_log_records = dropped[2]
            );
            self.logged_drops = dropped;
            self.stats.set_dropped(dropped);
        }
    }
}
