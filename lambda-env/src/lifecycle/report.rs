//! `platform.report`: an invocation's duration, billed duration, memory and init duration.

use super::Inner;
use crate::event::ms;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

impl Inner {
    /// `platform.report`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn report(
        &self,
        request_id: &str,
        status: &str,
        error_type: Option<&str>,
        duration: Duration,
        cold: Option<Duration>,
        spans: &[Value],
        tracing: &Value,
    ) -> Value {
        let duration_ms = ms(duration);
        // Container images and custom runtimes are billed for init too.
        let billed = (duration_ms + cold.map(ms).unwrap_or(0.0)).ceil() as u64;
        let peak_kib: u64 = self.live().iter().map(|p| p.peak_rss_kib()).sum();
        let mut metrics = json!({
            "durationMs": duration_ms,
            "billedDurationMs": billed,
            "memorySizeMB": self.config.memory_mb,
            "maxMemoryUsedMB": peak_kib.div_ceil(1024),
        });
        if let Some(init) = cold {
            metrics["initDurationMs"] = json!(ms(init));
        }
        let mut record = json!({
            "requestId": request_id,
            "status": status,
            "metrics": metrics,
            "tracing": tracing,
        });
        if !spans.is_empty() {
            record["spans"] = json!(spans);
        }
        if let Some(error_type) = error_type {
            record["errorType"] = json!(error_type);
        }
        self.shared
            .emit(Instant::now(), "platform.report", record.clone());
        record
    }
}
