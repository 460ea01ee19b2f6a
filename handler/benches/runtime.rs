//! Benchmark of the `bootstrap` binary as a Lambda runtime (prints figures; asserts nothing).
//!
//! Run: `cargo build --release --bin bootstrap && cargo build --release -p extension --bin otel-sidecar &&
//! cargo bench -p handler --bench runtime` (the binaries as shipped, as `./scripts/test` builds them: not
//! `--workspace`, whose test-only dependencies would change their features; the bench finds both through
//! `testkit::release_binary`, so `AWS_RUST_HTTP_API_RELEASE_DIR` can point it at another build)
//! (with `.venv` from `./scripts/test` for moto). For each of telemetry on (exporting to a local
//! OTLP receiver, as to the sidecar) and off (`OTEL_SDK_DISABLED=true`) it measures:
//! - cold init: process spawn → the runtime's first `next` (lambda-env's `initDurationMs`: init start,
//!   which spawns the runtime, → its first `next`);
//! - warm latency: an invocation's release to the runtime → its response fully received, `GET /`
//!   against local S3 (moto): `responseLatency` + `responseDuration` of `platform.runtimeDone`;
//! - hand-off: response received → the runtime's next `next`, with invocations queued back to back
//!   (the telemetry flush plus the runtime's own loop): `runtimeOverhead`;
//! - post-runtime: the runtime's `next` → the last extension's `next` (`extensionOverhead` of
//!   `platform.report`; none without an extension);
//! - billed after the response: the two together, the part of an invocation's billed duration that
//!   telemetry can add to (the invoke phase ends when the runtime and every extension wait in `next`),
//!   and what telemetry adds to it (on − off);
//! - the same with telemetry on and nothing listening at the hand-off address (the breaker skips);
//! - the same with telemetry on, handed off to the release `otel-sidecar` running as the sandbox's
//!   extension (the product: one hand-off request per invocation) rather than to the fake backend, which
//!   answers like an OpenTelemetry Collector (the function falls back to plain OTLP, one request per
//!   signal);
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
    // Nothing listens there: the hand-off's circuit breaker skips it after the first failure.
    let refusing = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| format!("http://{a}"))
        .expect("a free port");
    let mut handoffs = Vec::new();
    for (label, env, sidecar) in [
        ("telemetry on, to a plain OTLP receiver", vec![], false),
        (
            "telemetry off",
            vec![("OTEL_SDK_DISABLED", "true".to_string())],
            false,
        ),
        (
            "telemetry on, sidecar refusing connections",
            vec![("OTEL_SIDECAR_ENDPOINT", refusing)],
            false,
        ),
        ("telemetry on, to otel-sidecar", vec![], true),
    ] {
        println!("--- {label}");
        let cold = cold_init(&env, sidecar).await;
        let Warm {
            latency,
            handoff,
            post_runtime,
            billed,
            rss_kb,
            ..
        } = warm(&env, sidecar).await;
        println!("cold init (spawn → first next)  {}", summary(&cold));
        println!("warm GET / latency              {}", summary(&latency));
        println!("hand-off (response → next)      {}", summary(&handoff));
        println!("post-runtime (extensions)       {}", summary(&post_runtime));
        println!("billed after the response       {}", summary(&billed));
        println!(
            "peak RSS after {WARM_INVOCATIONS} invocations     {:.1} MB",
            rss_kb as f64 / 1024.0
        );
        handoffs.push(billed);
    }
    let (plain, off, refusing, sidecar) = (
        percentiles(&handoffs[0]),
        percentiles(&handoffs[1]),
        percentiles(&handoffs[2]),
        percentiles(&handoffs[3]),
    );
    let ms = |d: f64| d * 1e3;
    println!("--- billed time added per invocation (hand-off + post-runtime, on − off, same run)");
    for (label, on) in [
        ("to otel-sidecar − off", sidecar),
        ("to plain OTLP  − off", plain),
        ("refusing       − off", refusing),
    ] {
        println!(
            "{label:<32} p50 {:>8.3} ms  p99 {:>8.3} ms",
            ms(on.0 - off.0),
            ms(on.1 - off.1)
        );
    }
    phases(true).await;
    phases(false).await;
}

/// p50 and p99 in seconds.
fn percentiles(samples: &[Duration]) -> (f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let pct = |p: f64| {
        sorted
            .get(((sorted.len().max(1) as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, Duration::as_secs_f64)
    };
    (pct(0.5), pct(0.99))
}

async fn start(buckets: &[&str], env: &[(&str, String)], sidecar: bool) -> Function {
    if sidecar {
        Function::start_with_sidecar(buckets, env, &[]).await
    } else {
        Function::start(buckets, env).await
    }
}

async fn cold_init(env: &[(&str, String)], sidecar: bool) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..COLD_RUNS {
        let function = start(&["bench-bucket"], env, sidecar).await;
        let id = function.enqueue(event("apigw_v2_root.json"), None).await;
        let finished = function.wait(&id).await;
        if let Some(ms) = finished.report["metrics"]["initDurationMs"].as_f64() {
            out.push(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    out
}

/// The duration of span `name` in a `platform.runtimeDone` or `platform.report` record.
fn span_ms(record: &serde_json::Value, name: &str) -> Option<f64> {
    record["spans"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)?["durationMs"]
        .as_f64()
}

/// What a warm run measured, per warm invocation (the first, cold one skipped).
struct Warm {
    latency: Vec<Duration>,
    /// `runtimeOverhead`.
    handoff: Vec<Duration>,
    /// `extensionOverhead` (zero without an extension).
    post_runtime: Vec<Duration>,
    /// `runtimeOverhead` + `extensionOverhead`.
    billed: Vec<Duration>,
    rss_kb: u64,
    stdout: Vec<String>,
}

async fn warm(env: &[(&str, String)], sidecar: bool) -> Warm {
    let buckets: Vec<String> = (0..10).map(|i| format!("bench-bucket-{i:02}")).collect();
    let names: Vec<&str> = buckets.iter().map(String::as_str).collect();
    let function = start(&names, env, sidecar).await;
    let process = bootstrap_pid();
    let before = process.map(usage);
    let mut ids = Vec::new();
    for _ in 0..WARM_INVOCATIONS {
        ids.push(function.enqueue(event("apigw_v2_root.json"), None).await);
    }
    let mut states = Vec::new();
    for id in &ids {
        states.push(function.wait(id).await);
    }
    if let (Some(pid), Some(before)) = (process, before) {
        let after = usage(pid);
        let n = WARM_INVOCATIONS as f64;
        println!(
            "function CPU per invocation      {:.3} ms, {:.1} context switches (all threads, /proc)",
            (after.0 - before.0) as f64 / 1e6 / n,
            (after.1 - before.1) as f64 / n
        );
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
    let mut handoff = Vec::new();
    let mut post_runtime = Vec::new();
    let mut billed = Vec::new();
    for state in &states[1..] {
        let Some(overhead) = span_ms(&state.runtime_done, "runtimeOverhead") else {
            continue;
        };
        let extensions = span_ms(&state.report, "extensionOverhead").unwrap_or(0.0);
        handoff.push(ms(overhead));
        post_runtime.push(ms(extensions));
        billed.push(ms(overhead + extensions));
    }
    Warm {
        latency,
        handoff,
        post_runtime,
        billed,
        rss_kb: function.peak_rss_kb(),
        stdout: function.stdout(),
    }
}

/// The running `bootstrap` process (the bench runs one at a time).
fn bootstrap_pid() -> Option<u32> {
    let binary = testkit::release_binary("bootstrap")
        .ok()?
        .canonicalize()
        .ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary))
}

/// On-CPU nanoseconds and context switches of every thread of `pid` so far (load-independent, unlike
/// wall-clock figures on a busy machine).
fn usage(pid: u32) -> (u64, u64) {
    let mut cpu = 0;
    let mut switches = 0;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    for task in tasks.filter_map(Result::ok) {
        let path = task.path();
        if let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) {
            cpu += stat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
        if let Ok(status) = std::fs::read_to_string(path.join("status")) {
            switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    (cpu, switches)
}

/// Where a healthy hand-off's time goes, from the function's own debug line per hand-off (a separate
/// run: logging it costs a little): every `*_us` field of the line, whichever the binary writes.
async fn phases(sidecar: bool) {
    let env = [(
        "RUST_LOG",
        "info,handler::telemetry::delivery=debug".to_string(),
    )];
    let to = if sidecar {
        "otel-sidecar"
    } else {
        "plain OTLP"
    };
    println!("--- hand-off phases to {to} (the function's debug log, separate run)");
    let lines = warm(&env, sidecar).await.stdout;
    let mut samples: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
    for line in lines.iter().filter(|l| l.contains("hand-off phases")) {
        let Ok(serde_json::Value::Object(record)) = serde_json::from_str(line) else {
            continue;
        };
        for (field, value) in &record {
            if let (Some(name), Some(us)) = (field.strip_suffix("_us"), value.as_u64()) {
                samples
                    .entry(name.to_owned())
                    .or_default()
                    .push(Duration::from_micros(us));
            }
        }
    }
    for (field, out) in &samples {
        println!("{field:<32} {}", summary(out));
    }
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
