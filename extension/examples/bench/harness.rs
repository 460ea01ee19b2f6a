//! The benchmarked extension under `lambda-env` (the workspace's Lambda environment): spawn it behind
//! the timing proxy, time its init, and drive back-to-back invocations of the test function, measuring
//! each one's post-runtime overhead.

use crate::function::{Function, Work};
use crate::proxy::{Stamps, proxy};
use lambda_env::{Config, Invoke, Process, Sandbox};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A running extension process, its environment and (once invoked) the function next to it.
pub struct Sidecar {
    pub pid: u32,
    sandbox: Sandbox,
    nexts: Stamps,
    function: Option<Function>,
    pub receiver_port: u16,
    _dir: tempfile::TempDir,
}

/// The workspace's release directory, where the benchmarked binaries are.
pub fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

/// Starts `binary` as an extension behind a timing proxy; returns it once it polled `next`, with the
/// spawn-to-first-`next` time.
pub async fn start(binary: &Path, config: &str, backend: &str) -> (Sidecar, Duration) {
    let api_port = testkit::moto::free_port().expect("port");
    let nexts = Stamps::default();
    let proxy = proxy(format!("http://127.0.0.1:{api_port}"), nexts.clone()).await;
    let receiver_port = testkit::moto::free_port().expect("port");
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("otel-config.yaml");
    // The Telemetry API is on by default (as shipped), on a port of its own: benches run one after the
    // other, and an environment still delivering to a shared port would feed the next sidecar.
    let telemetry = if config.contains("telemetry_api") {
        String::new()
    } else {
        let port = testkit::moto::free_port().expect("port");
        format!("telemetry_api: {{ listener: \"127.0.0.1:{port}\" }}\n")
    };
    std::fs::write(
        &config_path,
        format!(
            "receivers:\n  otlp_http: {{ endpoint: \"127.0.0.1:{receiver_port}\" }}\n{telemetry}{config}"
        ),
    )
    .expect("config");
    let extension = Process::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", &proxy)
        .env("OTEL_SIDECAR_CONFIG", config_path.display().to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", backend)
        .env("OTEL_SIDECAR_LOG_LEVEL", "error");
    let name = extension.process_name();
    let spawned_at = Instant::now();
    // No freezing: the figures compare with earlier runs, which had none.
    let sandbox = Sandbox::start(Config {
        function_name: "bench".into(),
        freeze: false,
        timeout: Duration::from_secs(60),
        api_port: Some(api_port),
        ..Config::default().extension(extension)
    })
    .await
    .expect("sandbox");
    let first_next = nexts.wait_for(0).await;
    let init = first_next.saturating_duration_since(spawned_at);
    let pid = sandbox
        .pids()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, pid)| pid)
        .expect("the extension runs");
    let sidecar = Sidecar {
        pid,
        sandbox,
        nexts,
        function: None,
        receiver_port,
        _dir: dir,
    };
    (sidecar, init)
}

/// Runs `count` back-to-back invocations; returns each one's post-runtime overhead.
pub async fn invocations(sidecar: &mut Sidecar, count: usize, work: &Work) -> Vec<Duration> {
    let function = sidecar.function.get_or_insert_with(|| {
        Function::start(&sidecar.sandbox.runtime_api_url(), sidecar.receiver_port)
    });
    let mut overheads = Vec::with_capacity(count);
    for _ in 0..count {
        let before = sidecar.nexts.len();
        let invocation = sidecar
            .sandbox
            .invoke(Invoke::json(&serde_json::json!(work)));
        let done = function.wait_done(&invocation.request_id).await;
        // stamps[before - 1] is the long-poll that delivered this INVOKE; stamps[before] is the extension
        // saying it is done with it (a trivial extension says so before the function even finishes: 0).
        let next = sidecar.nexts.wait_for(before).await;
        overheads.push(next.saturating_duration_since(done));
        invocation.finished().await.expect("invocation");
    }
    overheads
}
