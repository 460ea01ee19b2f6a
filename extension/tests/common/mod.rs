//! Test harness: the real `otel-sidecar` binary as an external extension under `lambda-env` (the
//! workspace's Lambda environment: Runtime, Extensions and Telemetry APIs in Lambda's order, freezing
//! only when the runtime and the sidecar both wait in `next`), a function speaking the real Runtime
//! API and sending OTLP/HTTP protobuf to the sidecar like the handler does (or the real handler,
//! `bootstrap`, with S3 from moto), and testkit's decoding fake backend.

// Test code: a failed unwrap in a helper fails the test that called it.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)] // each test file uses part of the harness

pub mod function;

pub use function::Work;

use lambda_env::{Invocation, Invoke, Process, ShutdownReason};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::Duration;
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
    /// Run the real handler (the release `bootstrap`, reading S3 from a fresh moto) as the runtime
    /// instead of the stand-in function.
    pub handler: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: String::new(),
            freeze: true,
            backend: true,
            env: Vec::new(),
            handler: false,
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    pub lambda: lambda_env::Sandbox,
    pub backend: Option<FakeOtlpBackend>,
    pub http_port: u16,
    pub grpc_port: u16,
    pub dir: tempfile::TempDir,
    /// The stand-in function (None when the real handler runs).
    pub function: Option<function::Function>,
    /// The handler's S3 (when the real handler runs).
    pub moto: Option<testkit::MotoServer>,
    pending: Mutex<HashMap<String, Invocation>>,
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

/// The real handler as the runtime process, handing its telemetry off to the sidecar's receiver on
/// `receiver_port`, with S3 from a fresh moto (as handler/tests/common starts it).
fn handler_runtime(receiver_port: u16) -> (Process, testkit::MotoServer) {
    let moto = testkit::MotoServer::start().unwrap_or_else(|e| panic!("moto: {e}"));
    let binary = testkit::release_binary("bootstrap").unwrap_or_else(|e| panic!("{e}"));
    let runtime = Process::new(binary)
        .env(
            "OTEL_SIDECAR_ENDPOINT",
            format!("http://127.0.0.1:{receiver_port}"),
        )
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test-session-token");
    (runtime, moto)
}

/// An API Gateway event from the handler's fixtures (handler/tests/data/).
pub fn handler_event(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../handler/tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON fixture")
}

/// The sidecar's output (stdout and stderr, as lambda-env captured them).
fn sidecar_output(lambda: &lambda_env::Sandbox) -> String {
    lambda.output_of("otel-sidecar").join("\n")
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

        let mut sidecar = Process::new(sidecar_binary())
            .env("OTEL_SIDECAR_CONFIG", config_path.display().to_string())
            .env("OTEL_SIDECAR_LOG_FORMAT", "text")
            .env("OTEL_SIDECAR_LOG_LEVEL", "debug");
        sidecar.env.extend(options.env.iter().cloned());
        if let Some(backend) = &backend {
            sidecar = sidecar.env("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint());
        }
        let (runtime, moto) = if options.handler {
            let (runtime, moto) = handler_runtime(http_port);
            (lambda_env::Runtime::Process(runtime), Some(moto))
        } else {
            (lambda_env::Runtime::External, None)
        };
        let lambda = lambda_env::Sandbox::start(lambda_env::Config {
            function_name: "sidecar-test".into(),
            account_id: "123456789012".into(),
            timeout: Duration::from_secs(30),
            freeze: options.freeze,
            extensions: vec![sidecar],
            runtime,
            ..lambda_env::Config::default()
        })
        .await
        .unwrap_or_else(|e| panic!("sandbox: {e}"));
        // Lambda's init order: the sidecar registered, then the runtime starts.
        let function = (!options.handler)
            .then(|| function::Function::start(&lambda.runtime_api_url(), http_port));
        if let Err(error) = lambda.wait_initialized().await {
            panic!("init: {error}\n{}", sidecar_output(&lambda));
        }
        Sandbox {
            lambda,
            backend,
            http_port,
            grpc_port,
            function,
            moto,
            dir,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Runs one invocation to the end of its lifecycle (function done, sidecar back in `next`,
    /// `platform.report` sent, frozen if freezing). Returns the request id and the sidecar's
    /// post-runtime time: Lambda's `extensionOverhead` (the runtime's `next` → the sidecar's `next`).
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

    /// Starts one invocation (thawing the sandbox).
    pub async fn enqueue(&self, work: &Work) -> String {
        self.enqueue_event(&json!(work)).await
    }

    /// Starts one invocation with `event` as its payload (thawing the sandbox).
    pub async fn enqueue_event(&self, event: &serde_json::Value) -> String {
        let invocation = self.lambda.invoke(Invoke::json(event));
        let id = invocation.request_id.clone();
        self.pending.lock().unwrap().insert(id.clone(), invocation);
        id
    }

    /// Waits for the end of invocation `request_id`'s lifecycle; see [`Sandbox::invoke`].
    pub async fn complete(&self, request_id: &str) -> Duration {
        let invocation = self
            .pending
            .lock()
            .unwrap()
            .remove(request_id)
            .expect("an invocation started with enqueue");
        let finished = invocation
            .finished()
            .await
            .unwrap_or_else(|e| panic!("invocation {request_id}: {e}\n{}", self.stderr()));
        assert!(
            matches!(finished.outcome, lambda_env::Outcome::Response(_)),
            "{:?}\n{}",
            finished.outcome,
            self.stderr()
        );
        if let Some(function) = &self.function {
            function.wait_done(request_id).await;
        }
        let overhead_ms = finished.report["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "extensionOverhead"))
            .and_then(|s| s["durationMs"].as_f64())
            .expect("extensionOverhead span");
        Duration::from_secs_f64(overhead_ms / 1000.0)
    }

    /// SHUTDOWN (the sandbox waits for the sidecar to exit, up to the deadline, as Lambda does).
    pub async fn shutdown(mut self) -> Finished {
        if let Some(function) = &mut self.function {
            function.stop();
        }
        let report = self.lambda.shutdown(ShutdownReason::Spindown).await;
        let sidecar = report
            .process("otel-sidecar")
            .unwrap_or_else(|| panic!("no sidecar in {report:?}"));
        let output = sidecar_output(&self.lambda);
        assert!(
            !sidecar.killed,
            "sidecar did not exit after SHUTDOWN:\n{output}"
        );
        Finished {
            status: sidecar.status.expect("the sidecar was reaped"),
            backend: self.backend.take(),
            stderr: output.clone(),
            stdout: output,
            exit_after: sidecar.after.unwrap_or_default(),
            budget: report.budget,
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

    /// The stand-in function (panics when the sandbox runs the real handler).
    pub fn stand_in(&self) -> &function::Function {
        self.function
            .as_ref()
            .expect("the stand-in function runs (Options::handler is false)")
    }

    /// The sidecar's output so far.
    pub fn stderr(&self) -> String {
        sidecar_output(&self.lambda)
    }

    pub fn backend(&self) -> &FakeOtlpBackend {
        self.backend
            .as_ref()
            .expect("sandbox started with a backend")
    }
}

/// A sandbox after SHUTDOWN.
pub struct Finished {
    pub status: ExitStatus,
    pub backend: Option<FakeOtlpBackend>,
    pub stderr: String,
    pub stdout: String,
    pub exit_after: Duration,
    /// Lambda's SHUTDOWN deadline, from the start of the shutdown (the sidecar was not killed, so it
    /// exited before it).
    pub budget: Duration,
}

impl Finished {
    pub fn backend(&self) -> &FakeOtlpBackend {
        self.backend
            .as_ref()
            .expect("sandbox started with a backend")
    }

    /// How many times each span name reached the backend.
    pub fn span_counts(&self) -> std::collections::BTreeMap<String, usize> {
        span_counts(self.backend())
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

    /// The budget the sidecar gave its SHUTDOWN flush (`budget_ms` of its "shutdown: flushing" line): its
    /// own deadline arithmetic, independent of how loaded the machine is.
    pub fn shutdown_flush_budget(&self) -> Duration {
        let ms = self
            .stderr
            .lines()
            .find(|l| l.contains("shutdown: flushing"))
            .and_then(|l| l.split("budget_ms=").nth(1))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| panic!("no budget_ms in the shutdown line:\n{}", self.stderr));
        Duration::from_millis(ms)
    }

    /// The final (largest) value of the sidecar's own cumulative metric `name` with attribute `signal`.
    pub fn self_metric(&self, name: &str, signal: &str) -> Option<f64> {
        self_metric(self.backend(), name, signal)
    }
}

/// How many times each span name reached `backend`.
pub fn span_counts(backend: &FakeOtlpBackend) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for span in testkit::otlp_view::spans(&backend.traces()) {
        *counts.entry(span.name).or_insert(0) += 1;
    }
    counts
}

/// The final (largest) value of the sidecar's own cumulative metric `name` with attribute `signal`, as
/// `backend` received it.
pub fn self_metric(backend: &FakeOtlpBackend, name: &str, signal: &str) -> Option<f64> {
    testkit::otlp_view::metric_points(&backend.metrics())
        .into_iter()
        .filter(|p| {
            p.name == name && p.attributes.get("signal").and_then(|v| v.as_str()) == Some(signal)
        })
        .map(|p| p.value)
        .reduce(f64::max)
}

/// Span names the function emits for invocation `id` with `work`.
pub fn expected_spans(id: &str, work: &Work) -> Vec<String> {
    let mut names: Vec<String> = (0..work.spans).map(|i| format!("child-{id}-{i}")).collect();
    names.push(format!("root-{id}"));
    names
}
