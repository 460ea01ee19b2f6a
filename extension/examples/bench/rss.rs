//! Memory: RSS readings from `/proc`, and the sidecar's RSS after a sustained span load.

use crate::function::Work;
use crate::harness::{Sidecar, invocations, start};
use crate::overhead::WORK;
use std::path::Path;
use std::time::{Duration, Instant};

/// A `/proc/PID/status` field in kB (`VmRSS:`, `VmHWM:`); 0 if unreadable.
pub fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Invocations back to back for 5 s in adaptive mode, then RSS; returns the loaded sidecar.
pub async fn sustained_load(sidecar_bin: &Path, backend: &str) -> Sidecar {
    let (mut sidecar, _) = start(sidecar_bin, "", backend).await;
    let heavy = Work { spans: 50, ..WORK };
    let started = Instant::now();
    let mut count = 0;
    while started.elapsed() < Duration::from_secs(5) {
        invocations(&mut sidecar, 50, &heavy).await;
        count += 50;
    }
    let pid = sidecar.pid;
    println!(
        "\nSustained load (adaptive, 51 spans per invocation): {count} invocations in 5 s, RSS {:.1} MB, peak RSS {:.1} MB",
        rss_kb(pid, "VmRSS:") as f64 / 1024.0,
        rss_kb(pid, "VmHWM:") as f64 / 1024.0
    );
    sidecar
}
