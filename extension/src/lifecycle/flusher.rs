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

    /// Whether an export job is still in flight (a finished one is collected here).
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

    /// Whether anything waits in the buffer for the next export.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ExporterConfig, Headers, RetryConfig, SignalExport};
    use crate::exporter::otlp::OtlpExporter;
    use crate::pipeline::Payload;
    use crate::pipeline::resource::LambdaFacts;
    use std::time::Duration;

    fn flusher(otlp: Option<OtlpExporter>, stats: &Arc<Stats>) -> (Flusher, SharedBuffer) {
        let buffer = SharedBuffer::new(1 << 20);
        let exporters = Arc::new(Exporters::new(otlp, false, stats.clone(), 1 << 20));
        let enricher = Arc::new(Enricher::new(&LambdaFacts::default(), &[]));
        let flusher = Flusher::new(buffer.clone(), exporters, enricher, stats.clone());
        (flusher, buffer)
    }

    /// An exporter to a port nobody listens on (what happens to its exports does not matter here).
    fn remote(stats: &Arc<Stats>) -> OtlpExporter {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let signal = |path: &str| SignalExport {
            url: format!("http://127.0.0.1:{port}/{path}"),
            headers: Headers(Vec::new()),
            gzip: false,
            timeout: Duration::from_secs(1),
        };
        let config = ExporterConfig {
            traces: signal("v1/traces"),
            metrics: signal("v1/metrics"),
            logs: signal("v1/logs"),
            retry: RetryConfig {
                max_attempts: 1,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(5),
            },
        };
        OtlpExporter::new(config, stats.clone())
    }

    #[tokio::test]
    async fn a_changed_faas_snapshot_is_worth_an_export_of_its_own() {
        let stats = Arc::new(Stats::new());
        let metrics = Arc::new(FaasMetrics::new("other"));
        let (flusher, _) = flusher(None, &stats);
        let mut flusher = flusher.with_faas_metrics(metrics.clone());
        assert!(!flusher.start(None), "nothing to send");
        metrics.lambda_dropped(1);
        assert!(flusher.start(None));
        assert!(flusher.wait(Instant::now() + Duration::from_secs(5)).await);
        assert!(!flusher.start(None), "the snapshot went out once");
    }

    #[tokio::test]
    async fn the_sidecars_own_metrics_only_ride_along_with_an_export() {
        let stats = Arc::new(Stats::new());
        let (mut flusher, buffer) = flusher(Some(remote(&stats)), &stats);
        stats.record_post_runtime(Duration::from_millis(1));
        assert!(
            !flusher.start(None),
            "the sidecar's own figures are no reason to export"
        );
        assert!(
            stats.take_report(&[]).is_some(),
            "they stay for the next export"
        );
        stats.record_retry();
        buffer.lock().push(Entry::new(&Payload::Traces(Vec::new())));
        assert!(flusher.start(None));
        assert!(
            stats.take_report(&[]).is_none(),
            "taken along with the traces"
        );
    }
}
