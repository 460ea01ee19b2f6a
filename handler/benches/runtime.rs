//! Benchmark of the `bootstrap` binary as a Lambda runtime (prints figures; asserts nothing).
//!
//! Run: `cargo build --release --bin bootstrap && cargo bench -p handler --bench runtime` (the binary as
//! shipped: not `--workspace`, whose test-only dependencies would change its features)
//! (with `.venv` from `./scripts/test` for moto). For each of telemetry on (exporting to a local
//! OTLP receiver, as to the sidecar) and off (`OTEL_SDK_DISABLED=true`) it measures:
//! - cold init: process spawn → the runtime's first `next` (lambda-env's `initDurationMs`: init start,
//!   which spawns the runtime, → its first `next`);
//! - warm latency: an invocation's release to the runtime → its response fully received, `GET /`
//!   against local S3 (moto): `responseLatency` + `responseDuration` of `platform.runtimeDone`;
//! - hand-off: response received → the runtime's next `next`, with invocations queued back to back
//!   (the telemetry flush plus the runtime's own loop): `runtimeOverhead`;
//! - peak RSS (`VmHWM`) after the warm run, and the stripped binary's size.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Function, event};
use std::time::Duration;

const COLD_RUNS: usize = 10;
const WARM_INVOCATIONS: usize = 300;

#[tokio::main]
async fn main() {
    let binary =
        testkit::release_binary("bootstrap").expect("release bootstrap (cargo build --release)");
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    println!(
        "bootstrap binary: {:.2} MB ({} bytes)",
        size as f64 / 1e6,
        size
    );
    for (label, env) in [
        ("telemetry on ", vec![]),
        (
            "telemetry off",
            vec![("OTEL_SDK_DISABLED", "true".to_string())],
        ),
    ] {
        let cold = cold_init(&env).await;
        let (latency, handoff, rss_kb) = warm(&env).await;
        println!("--- {label}");
        println!("cold init (spawn → first next)  {}", summary(&cold));
        println!("warm GET / latency              {}", summary(&latency));
        println!("hand-off (response → next)      {}", summary(&handoff));
        println!(
            "peak RSS after {WARM_INVOCATIONS} invocations     {:.1} MB",
            rss_kb as f64 / 1024.0
        );
    }
}

async fn cold_init(env: &[(&str, String)]) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..COLD_RUNS {
        let function = Function::start(&["bench-bucket"], env).await;
        let id = function.enqueue(event("apigw_v2_root.json"), None).await;
        let finished = function.wait(&id).await;
        if let Some(ms) = finished.report["metrics"]["initDurationMs"].as_f64() {
            out.push(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    out
}

/// The duration of span `name` in a `platform.runtimeDone` record.
fn span_ms(runtime_done: &serde_json::Value, name: &str) -> Option<f64> {
    runtime_done["spans"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)?["durationMs"]
        .as_f64()
}

async fn warm(env: &[(&str, String)]) -> (Vec<Duration>, Vec<Duration>, u64) {
    let buckets: Vec<String> = (0..10).map(|i| format!("bench-bucket-{i:02}")).collect();
    let names: Vec<&str> = buckets.iter().map(String::as_str).collect();
    let function = Function::start(&names, env).await;
    let mut ids = Vec::new();
    for _ in 0..WARM_INVOCATIONS {
        ids.push(function.enqueue(event("apigw_v2_root.json"), None).await);
    }
    let mut states = Vec::new();
    for id in &ids {
        states.push(function.wait(id).await);
    }
    let ms = |v: f64| Duration::from_secs_f64(v / 1000.0);
    // Skip the first (cold) invocation.
    let latency = states[1..]
        .iter()
        .filter_map(|s| {
            Some(
                span_ms(&s.runtime_done, "responseLatency")?
                    + span_ms(&s.runtime_done, "responseDuration")?,
            )
        })
        .map(ms)
        .collect();
    let handoff = states[1..]
        .iter()
        .filter_map(|s| span_ms(&s.runtime_done, "runtimeOverhead"))
        .map(ms)
        .collect();
    (latency, handoff, function.peak_rss_kb())
}

fn summary(samples: &[Duration]) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let pct = |p: f64| -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i]
    };
    format!(
        "p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  (n={})",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3,
        sorted.len()
    )
}
