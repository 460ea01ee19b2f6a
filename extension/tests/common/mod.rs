//! Test harness: the real `otel-sidecar` binary as an external extension under `lambda-simulator`, a
//! function speaking the simulator's real Runtime API and sending OTLP/HTTP protobuf to the sidecar like
//! the handler does, and testkit's decoding fake backend.
//!
//! Work-arounds for the simulator's differences from Lambda (lambda-simulator 0.2.0):
//! - it marks the sandbox "frozen" before sending SIGSTOP: after each invocation we wait until
//!   `/proc/PID/stat` shows the sidecar stopped (`T`) before enqueueing the next one;
//! - it freezes as soon as every extension called `next`, without waiting for the runtime: harmless while
//!   the function sends its telemetry before the sidecar calls `next` (the contract); the test where the
//!   sidecar deliberately stops waiting for a silent function runs without freezing;
//! - `wait_for_invocation_complete` / `wait_for_extensions_ready` can miss a wake-up: we poll in 1 ms slices;
//! - SHUTDOWN counts as acknowledged once delivered (Lambda waits for the extension to exit, up to the
//!   deadline): we wait for the sidecar process to exit ourselves;
//! - the runtime is not sent SIGTERM at SHUTDOWN: the function task is simply dropped.

#![allow(dead_code)] // each test file uses part of the harness

pub mod function;

pub use function::Work;

use lambda_simulator::{
    FreezeMode, InvocationBuilder, InvocationStatus, ShutdownReason, Simulator,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use testkit::FakeOtlpBackend;

/// How to set up one sandbox.
pub struct Options {
    /// Extra YAML appended to the generated config (receivers are always set by the harness).
    pub config: String,
    /// Freeze the sidecar with SIGSTOP between invocations, like Lambda.
    pub freeze: bool,
    /// Start a fake backend and point `OTEL_EXPORTER_OTLP_ENDPOINT` at it.
    pub backend: bool,
    /// Extra environment for the sidecar.
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: String::new(),
            freeze: true,
            backend: true,
            env: Vec::new(),
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    pub simulator: Simulator,
    pub sidecar: SidecarProcess,
    pub backend: Option<FakeOtlpBackend>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub dir: tempfile::TempDir,
    pub function: function::Function,
    freeze: bool,
}

/// The sidecar binary: the release build `./scripts/test` made, else the one cargo built for this test
/// (always the latter when testing the `grpc` feature, which the default release build leaves out).
pub fn sidecar_binary() -> PathBuf {
    if std::env::var_os("AWS_RUST_HTTP_API_RELEASE_DIR").is_some() && !cfg!(feature = "grpc") {
        testkit::release_binary("otel-sidecar").unwrap_or_else(|e| panic!("{e}"))
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_otel-sidecar"))
    }
}

impl Sandbox {
    /// A sandbox with the default options (freezing, fake backend) and `config` appended to its config.
    pub async fn with_config(config: impl Into<String>) -> Sandbox {
        Sandbox::start(Options {
            config: config.into(),
            ..Options::default()
        })
        .await
    }

    pub async fn start(options: Options) -> Sandbox {
        let backend = if options.backend {
            Some(FakeOtlpBackend::start().await.expect("fake backend"))
        } else {
            None
        };
        let mut builder = Simulator::builder()
            .function_name("sidecar-test")
            .account_id("123456789012")
            .extension_ready_timeout(Duration::from_secs(10));
        if options.freeze {
            builder = builder.freeze_mode(FreezeMode::Process);
        }
        let simulator = builder.build().await.expect("simulator");
        let http_port = testkit::moto::free_port().expect("port");
        let grpc_port = testkit::moto::free_port().expect("port");
        let dir = tempfile::tempdir().expect("tempdir");
        // These tests are about the OTLP path: Lambda's platform spans would change the span sets they
        // assert on (tests/telemetry_api.rs covers the Telemetry API).
        let telemetry = if options.config.contains("telemetry_api") {
            ""
        } else {
            "telemetry_api:\n  enabled: false\n"
        };
        let config = format!(
            "receivers:\n  otlp_http: {{ endpoint: \"127.0.0.1:{http_port}\" }}\n  otlp_grpc: {{ endpoint: \"127.0.0.1:{grpc_port}\" }}\n{telemetry}{}",
            options.config
        );
        let config_path = dir.path().join("otel-config.yaml");
        std::fs::write(&config_path, config).expect("write config");

        let mut command = Command::new(sidecar_binary());
        command
            .envs(simulator.lambda_env_vars())
            .env("OTEL_SIDECAR_CONFIG", &config_path)
            .env("OTEL_SIDECAR_LOG_FORMAT", "text")
            .env("OTEL_SIDECAR_LOG_LEVEL", "debug")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"));
        if let Some(backend) = &backend {
            command.env("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint());
        }
        let sidecar = SidecarProcess(command.spawn().expect("spawn otel-sidecar"));
        if options.freeze {
            simulator.register_freeze_pid(sidecar.id());
        }
        let mut sandbox = Sandbox {
            simulator,
            sidecar,
            backend,
            http_port,
            grpc_port,
            function: function::Function::default(),
            dir,
            freeze: options.freeze,
        };
        sandbox.wait_for_registration().await;
        sandbox.function =
            function::Function::start(&sandbox.simulator.runtime_api_url(), http_port);
        sandbox
    }

    async fn wait_for_registration(&mut self) {
        let start = Instant::now();
        loop {
            if let Some(extension) = self.simulator.get_registered_extensions().await.first()
                && self
                    .simulator
                    .first_next_poll_at(&extension.id)
                    .await
                    .is_some()
            {
                return;
            }
            if let Ok(Some(status)) = self.sidecar.try_wait() {
                panic!("sidecar exited during init ({status}):\n{}", self.stderr());
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sidecar did not register:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Runs one invocation to the end of its lifecycle (function done, sidecar back in `next`, frozen if
    /// freezing). Returns the request id and the time between the function finishing and the sidecar
    /// calling `next` (measured by polling, so with ~1 ms resolution).
    pub async fn invoke(&self, work: &Work) -> (String, Duration) {
        let request_id = self.enqueue(work).await;
        let overhead = self.complete(&request_id).await;
        (request_id, overhead)
    }

    /// Runs `count` invocations of `work` one after the other; returns the names of the spans they emit.
    pub async fn invoke_times(&self, count: usize, work: &Work) -> Vec<String> {
        let mut expected = Vec::new();
        for _ in 0..count {
            let (id, _) = self.invoke(work).await;
            expected.extend(expected_spans(&id, work));
        }
        expected
    }

    /// Enqueues one invocation (thawing the sandbox).
    pub async fn enqueue(&self, work: &Work) -> String {
        let invocation = InvocationBuilder::new()
            .payload(json!(work))
            .timeout_ms(30_000)
            .build()
            .expect("invocation");
        self.simulator.enqueue(invocation).await
    }

    /// Waits for the end of invocation `request_id`'s lifecycle; see [`Sandbox::invoke`].
    pub async fn complete(&self, request_id: &str) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self
                .simulator
                .get_invocation_state(request_id)
                .await
                .expect("known invocation");
            if matches!(
                state.status,
                InvocationStatus::Success | InvocationStatus::Error | InvocationStatus::Timeout
            ) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "invocation {request_id} did not complete"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let function_done = self.function.wait_done(request_id).await;
        while !self.simulator.are_extensions_ready(request_id).await {
            assert!(
                Instant::now() < deadline,
                "sidecar did not call next after {request_id}:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let overhead = function_done.elapsed();
        if self.freeze {
            self.wait_until_stopped(deadline).await;
        }
        overhead
    }

    async fn wait_until_stopped(&self, deadline: Instant) {
        let stat_path = format!("/proc/{}/stat", self.sidecar.id());
        loop {
            let stat = std::fs::read_to_string(&stat_path).unwrap_or_default();
            // Field 3, after the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            if matches!(state, Some("T" | "t")) || !self.simulator.is_frozen() {
                return;
            }
            assert!(Instant::now() < deadline, "sidecar never stopped");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// SHUTDOWN, then waits for the sidecar to exit by itself (as Lambda would, up to its deadline).
    pub async fn shutdown(mut self) -> Finished {
        self.function.stop();
        self.simulator
            .graceful_shutdown(ShutdownReason::Spindown)
            .await;
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.sidecar.try_wait() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(5) {
                let _ = self.sidecar.kill();
                panic!(
                    "sidecar did not exit after SHUTDOWN:\n{}",
                    read(&self.dir, "stderr")
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        Finished {
            status,
            backend: self.backend,
            stderr: read(&self.dir, "stderr"),
            stdout: read(&self.dir, "stdout"),
            exit_after: start.elapsed(),
        }
    }

    /// [`Sandbox::shutdown`], asserting that the sidecar exited successfully.
    pub async fn shutdown_cleanly(self) -> Finished {
        let finished = self.shutdown().await;
        assert!(
            finished.status.success(),
            "exit status {}:\n{}",
            finished.status,
            finished.stderr
        );
        finished
    }

    pub fn stderr(&self) -> String {
        read(&self.dir, "stderr")
    }

    pub fn backend(&self) -> &FakeOtlpBackend {
        self.backend
            .as_ref()
            .expect("sandbox started with a backend")
    }
}

/// The sidecar process; never left stopped or running behind a failed test.
pub struct SidecarProcess(pub Child);

impl std::ops::Deref for SidecarProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for SidecarProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for SidecarProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.0.id().to_string()])
                .status();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn read(dir: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path().join(name)).unwrap_or_default()
}

/// A sandbox after SHUTDOWN.
pub struct Finished {
    pub status: ExitStatus,
    pub backend: Option<FakeOtlpBackend>,
    pub stderr: String,
    pub stdout: String,
    pub exit_after: Duration,
}

impl Finished {
    pub fn backend(&self) -> &FakeOtlpBackend {
        self.backend
            .as_ref()
            .expect("sandbox started with a backend")
    }

    /// How many times each span name reached the backend.
    pub fn span_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for span in testkit::otlp_view::spans(&self.backend().traces()) {
            *counts.entry(span.name).or_insert(0) += 1;
        }
        counts
    }

    /// Asserts that each span in `names` reached the backend exactly once.
    pub fn assert_delivered_once<'a>(&self, names: impl IntoIterator<Item = &'a String>) {
        let counts = self.span_counts();
        for name in names {
            assert_eq!(
                counts.get(name),
                Some(&1),
                "span {name} delivered {:?} times\n{}",
                counts.get(name),
                self.stderr
            );
        }
    }

    /// The final (largest) value of the sidecar's own cumulative metric `name` with attribute `signal`.
    pub fn self_metric(&self, name: &str, signal: &str) -> Option<f64> {
        testkit::otlp_view::metric_points(&self.backend().metrics())
            .into_iter()
            .filter(|p| {
                p.name == name
                    && p.attributes.get("signal").and_then(|v| v.as_str()) == Some(signal)
            })
            .map(|p| p.value)
            .reduce(f64::max)
    }
}

/// Span names the function emits for invocation `id` with `work`.
pub fn expected_spans(id: &str, work: &Work) -> Vec<String> {
    let mut names: Vec<String> = (0..work.spans).map(|i| format!("child-{id}-{i}")).collect();
    names.push(format!("root-{id}"));
    names
}
