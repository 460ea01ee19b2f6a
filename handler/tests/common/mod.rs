//! Harness for the end-to-end tests: the release `bootstrap` binary as a real Lambda runtime
//! under `lambda-env` (the workspace's Lambda environment: Runtime API, Lambda's order, frozen between
//! invocations), S3 from moto, OTLP into a decoding fake backend.

#![allow(dead_code)]

use lambda_env::{Config, Finished, Invocation, Invoke, Outcome, Process, Sandbox};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use testkit::{FakeOtlpBackend, MotoServer};

pub const FUNCTION_NAME: &str = "aws-rust-http-api-dev-api";

/// The function's log line when its hand-off breaker opens.
pub const BREAKER_OPENED: &str = "telemetry hand-off failed: skipping it";
/// The function's log line when its hand-off breaker closes.
pub const BREAKER_CLOSED: &str = "telemetry hand-off resumed";

/// Each invocation's hand-off cost as Lambda measures `runtimeOverhead`: its answer reaching the
/// Runtime API → the runtime's next `next`.
pub fn handoff_costs(states: &[Finished]) -> Vec<Duration> {
    let nanos = |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt().unwrap_or(0);
    states
        .iter()
        .map(|s| {
            let end = s.answered_at.expect("answered");
            let next = s.runtime_next_at.expect("the runtime called next again");
            Duration::from_nanos((nanos(next) - nanos(end)).max(0) as u64)
        })
        .collect()
}

/// A running function process and everything around it.
pub struct Function {
    pub sandbox: Sandbox,
    pub backend: FakeOtlpBackend,
    pub moto: Option<MotoServer>,
    pending: Mutex<HashMap<String, Invocation>>,
    /// Where the sidecar receives OTLP/HTTP, when it runs (see [`Function::start_with_sidecar`]).
    pub sidecar_endpoint: Option<String>,
    /// The sidecar's configuration, when it runs.
    _sidecar_config: Option<tempfile::TempDir>,
}

impl Function {
    /// Starts the function (init included: its first `next`) with `env` on top of Lambda's
    /// variables. Unless `env` says otherwise, it exports to the fake backend and reads S3 from a
    /// fresh moto with `buckets` in it.
    pub async fn start(buckets: &[&str], env: &[(&str, String)]) -> Function {
        Function::start_in(buckets, env, None).await
    }

    /// Like [`Function::start`], with the release `otel-sidecar` (and `sidecar_env` on top of its
    /// settings) as the sandbox's extension: the function hands off to it, and it exports to the fake
    /// backend.
    pub async fn start_with_sidecar(
        buckets: &[&str],
        env: &[(&str, String)],
        sidecar_env: &[(&str, &str)],
    ) -> Function {
        Function::start_in(buckets, env, Some(sidecar_env)).await
    }

    async fn start_in(
        buckets: &[&str],
        env: &[(&str, String)],
        sidecar_env: Option<&[(&str, &str)]>,
    ) -> Function {
        let backend = FakeOtlpBackend::start().await.expect("fake OTLP backend");
        let moto = MotoServer::start().expect("moto");
        create_buckets(&moto.endpoint(), buckets).await;
        let binary = testkit::release_binary("bootstrap").expect("bootstrap binary");
        let mut runtime = Process::new(binary)
            .env("OTEL_SIDECAR_ENDPOINT", backend.endpoint())
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test-session-token")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("S3_PAGE_SIZE", "2");
        let mut config = Config::default();
        let mut sidecar_config = None;
        let mut sidecar_endpoint = None;
        if let Some(sidecar_env) = sidecar_env {
            let (mut sidecar, endpoint, dir) = sidecar(&backend);
            for (key, value) in sidecar_env {
                sidecar = sidecar.env(*key, *value);
            }
            runtime = runtime.env("OTEL_SIDECAR_ENDPOINT", endpoint.clone());
            sidecar_endpoint = Some(endpoint);
            config = config.extension(sidecar);
            sidecar_config = Some(dir);
        }
        runtime
            .env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let sandbox = Sandbox::start(Config {
            function_name: FUNCTION_NAME.into(),
            function_version: "7".into(),
            memory_mb: 256,
            region: "eu-west-1".into(),
            timeout: Duration::from_secs(10),
            inherit_env: false,
            echo_output: std::env::var_os("QUIET_FUNCTION_LOGS").is_none(),
            ..config.runtime(runtime)
        })
        .await
        .expect("sandbox");
        Function {
            sandbox,
            backend,
            moto: Some(moto),
            pending: Mutex::new(HashMap::new()),
            sidecar_endpoint,
            _sidecar_config: sidecar_config,
        }
    }

    /// Peak resident set size of the function process so far (`VmHWM`), in KiB.
    pub fn peak_rss_kb(&self) -> u64 {
        self.sandbox
            .pids()
            .first()
            .and_then(|(_, pid)| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Starts an invocation (with an X-Ray trace header of our choosing, if given); invocations
    /// run one after the other, as in one Lambda execution environment.
    pub async fn enqueue(&self, event: Value, xray: Option<&str>) -> String {
        let mut invoke = Invoke::json(&event);
        if let Some(header) = xray {
            invoke = invoke.trace_header(header);
        }
        let invocation = self.sandbox.invoke(invoke);
        let id = invocation.request_id.clone();
        self.pending
            .lock()
            .expect("lock")
            .insert(id.clone(), invocation);
        id
    }

    /// Waits for the end of an invocation's lifecycle (`platform.report` sent).
    pub async fn wait(&self, request_id: &str) -> Finished {
        let invocation = self
            .pending
            .lock()
            .expect("lock")
            .remove(request_id)
            .expect("an invocation started with enqueue");
        invocation.finished().await.expect("invocation")
    }

    /// The function's output lines so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.stdout()
            .into_iter()
            .filter(|line| line.contains(needle))
            .collect()
    }

    /// The function's output so far (stdout and stderr, line by line).
    pub fn stdout(&self) -> Vec<String> {
        self.sandbox
            .output()
            .into_iter()
            .filter(|l| l.stream == "function")
            .map(|l| l.line)
            .collect()
    }
}

/// The release `otel-sidecar` as an extension exporting to `backend`, on free ports: the process, its
/// OTLP/HTTP receiver's URL, and the directory of its configuration.
fn sidecar(backend: &FakeOtlpBackend) -> (Process, String, tempfile::TempDir) {
    let port = || testkit::moto::free_port().expect("a free port");
    let (http, grpc, listener) = (port(), port(), port());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("otel-config.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp_http: {{ endpoint: \"127.0.0.1:{http}\" }}\n  \
             otlp_grpc: {{ endpoint: \"127.0.0.1:{grpc}\" }}\n\
             telemetry_api:\n  listener: \"127.0.0.1:{listener}\"\n  faas_trigger: http\n"
        ),
    )
    .expect("sidecar config");
    let binary = testkit::release_binary("otel-sidecar").expect("otel-sidecar binary");
    let process = Process::new(binary)
        .env("OTEL_SIDECAR_CONFIG", config.display().to_string())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", backend.endpoint())
        .env("OTEL_SIDECAR_LOG_FORMAT", "text");
    (process, format!("http://127.0.0.1:{http}"), dir)
}

/// An API Gateway event from `tests/data/`.
pub fn event(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON fixture")
}

/// The HTTP response inside a runtime response payload: status and parsed JSON body.
pub fn http_response(state: &Finished) -> (u16, Value, Value) {
    let payload = match &state.outcome {
        Outcome::Response(_) => state.outcome.json().expect("a JSON response payload"),
        other => panic!("no response: {other:?}"),
    };
    let status = payload["statusCode"].as_u64().expect("statusCode") as u16;
    let body = payload["body"].as_str().unwrap_or("null");
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, body, payload["headers"].clone())
}

/// An S3 client for a local S3 server (test credentials, path-style addressing).
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn create_buckets(endpoint: &str, buckets: &[&str]) {
    let s3 = s3_client(endpoint);
    for bucket in buckets {
        s3.create_bucket()
            .bucket(*bucket)
            .send()
            .await
            .expect("create bucket");
    }
}
