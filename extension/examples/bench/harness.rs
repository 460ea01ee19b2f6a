//! The benchmarked extension under `lambda-simulator`: spawn it behind the timing proxy, time its init,
//! and drive back-to-back invocations of the test function, measuring each one's post-runtime overhead.

use crate::function::{Function, Work};
use crate::proxy::{Stamps, proxy};
use lambda_simulator::{InvocationBuilder, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A running extension process, its simulator and (once invoked) the function next to it.
pub struct Sidecar {
    pub child: Child,
    simulator: Simulator,
    nexts: Stamps,
    function: Option<Function>,
    pub receiver_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace's release directory, where the benchmarked binaries are.
pub fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

/// Starts `binary` as an extension behind a timing proxy; returns it once it polled `next`, with the
/// spawn-to-first-`next` time.
pub async fn start(binary: &Path, config: &str, backend: &str) -> (Sidecar, Duration) {
    let simulator = Simulator::builder()
        .function_name("bench")
        .account_id("123456789012")
        .build()
        .await
        .expect("simulator");
    let nexts = Stamps::default();
    let proxy = proxy(simulator.runtime_api_url(), nexts.clone()).await;
    let receiver_port = testkit::moto::free_port().expect("port");
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("otel-config.yaml");
    // The Telemetry API is on by default (as shipped), on a port of its own: benches run one after the
    // other, and a simulator still delivering to a shared port would feed the next sidecar.
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
    let spawned_at = unix_micros(SystemTime::now());
    let child = Command::new(binary)
        .envs(simulator.lambda_env_vars())
        .env("AWS_LAMBDA_RUNTIME_API", &proxy)
        .env("OTEL_SIDECAR_CONFIG", &config_path)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", backend)
        .env("OTEL_SIDECAR_LOG_LEVEL", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn extension");
    let first_next = loop {
        if let Some(extension) = simulator.get_registered_extensions().await.first()
            && let Some(at) = simulator.first_next_poll_at(&extension.id).await
        {
            break at;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    let init = Duration::from_micros((first_next.timestamp_micros() - spawned_at).max(0) as u64);
    let sidecar = Sidecar {
        child,
        simulator,
        nexts,
        function: None,
        receiver_port,
        _dir: dir,
    };
    (sidecar, init)
}

fn unix_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Runs `count` back-to-back invocations; returns each one's post-runtime overhead.
pub async fn invocations(sidecar: &mut Sidecar, count: usize, work: &Work) -> Vec<Duration> {
    let function = sidecar.function.get_or_insert_with(|| {
        Function::start(&sidecar.simulator.runtime_api_url(), sidecar.receiver_port)
    });
    let mut overheads = Vec::with_capacity(count);
    for _ in 0..count {
        let before = sidecar.nexts.len();
        let invocation = InvocationBuilder::new()
            .payload(serde_json::json!(work))
            .timeout_ms(60_000)
            .build()
            .expect("invocation");
        let id = sidecar.simulator.enqueue(invocation).await;
        let done = function.wait_done(&id).await;
        // stamps[before - 1] is the long-poll that delivered this INVOKE; stamps[before] is the extension
        // saying it is done with it (a trivial extension says so before the function even finishes: 0).
        let next = sidecar.nexts.wait_for(before).await;
        overheads.push(next.saturating_duration_since(done));
    }
    overheads
}
