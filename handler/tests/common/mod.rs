//! Harness for the end-to-end tests: the release `bootstrap` binary as a real Lambda runtime
//! under `lambda-simulator` (Runtime API), S3 from moto, OTLP into a decoding fake backend.

#![allow(dead_code)]

use lambda_simulator::Simulator;
use lambda_simulator::invocation::Invocation;
use lambda_simulator::state::InvocationState;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use testkit::{FakeOtlpBackend, MotoServer};

pub const FUNCTION_NAME: &str = "aws-rust-http-api-dev-api";

/// A running function process and everything around it.
pub struct Function {
    pub simulator: Simulator,
    pub backend: FakeOtlpBackend,
    pub moto: Option<MotoServer>,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    spawned_at: SystemTime,
}

impl Function {
    /// Starts the function with `env` on top of Lambda's variables. Unless `env` says otherwise,
    /// it exports to the fake backend and reads S3 from a fresh moto with `buckets` in it.
    pub async fn start(buckets: &[&str], env: &[(&str, String)]) -> Function {
        Function::start_with(buckets, env, None).await.0
    }

    /// Like [`Function::start`]; `first_event` is enqueued before the process is spawned (so its
    /// start time is the runtime's first `next`), and its request id returned.
    pub async fn start_with(
        buckets: &[&str],
        env: &[(&str, String)],
        first_event: Option<Value>,
    ) -> (Function, Option<String>) {
        let backend = FakeOtlpBackend::start().await.expect("fake OTLP backend");
        let moto = MotoServer::start().expect("moto");
        create_buckets(&moto.endpoint(), buckets).await;
        let simulator = Simulator::builder()
            .function_name(FUNCTION_NAME)
            .function_version("7")
            .memory_size_mb(256)
            .region("eu-west-1")
            .invocation_timeout(Duration::from_secs(10))
            .build()
            .await
            .expect("simulator");
        let first_id = match first_event {
            Some(event) => Some(simulator.enqueue(Invocation::new(event, 10_000)).await),
            None => None,
        };
        let binary = testkit::release_binary("bootstrap").expect("bootstrap binary");
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(simulator.lambda_env_vars())
            .env("OTEL_SIDECAR_ENDPOINT", backend.endpoint())
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test-session-token")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("S3_PAGE_SIZE", "2");
        for (key, value) in env {
            command.env(key, value);
        }
        let echo = std::env::var_os("QUIET_FUNCTION_LOGS").is_none();
        let spawned_at = SystemTime::now();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn bootstrap");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let lines = stdout.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("[bootstrap] {line}");
                    }
                    lines.lock().expect("stdout lock").push(line);
                }
            });
        }
        let function = Function {
            simulator,
            backend,
            moto: Some(moto),
            child,
            stdout,
            spawned_at,
        };
        (function, first_id)
    }

    /// When the process was spawned.
    pub fn spawned_at(&self) -> SystemTime {
        self.spawned_at
    }

    /// Peak resident set size of the process so far (`VmHWM`), in KiB.
    pub fn peak_rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Enqueues an event (with an X-Ray trace header of our choosing, if given).
    pub async fn enqueue(&self, event: Value, xray: Option<&str>) -> String {
        let mut invocation = Invocation::new(event, 10_000);
        if let Some(header) = xray {
            invocation.trace_id = header.to_string();
        }
        self.simulator.enqueue(invocation).await
    }

    /// Waits for an invocation to finish (polling in short slices: the simulator's own wait can
    /// miss a very fast completion).
    pub async fn wait(&self, request_id: &str) -> InvocationState {
        for _ in 0..1500 {
            if let Ok(state) = self
                .simulator
                .wait_for_invocation_complete(request_id, Duration::from_millis(20))
                .await
            {
                return state;
            }
        }
        panic!("invocation {request_id} did not complete in 30 s");
    }

    /// The function's stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lock").clone()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API Gateway event from `tests/data/`.
pub fn event(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON fixture")
}

/// The HTTP response inside a runtime response payload: status and parsed JSON body.
pub fn http_response(state: &InvocationState) -> (u16, Value, Value) {
    let payload = &state
        .response
        .as_ref()
        .unwrap_or_else(|| panic!("no response: {state:?}"))
        .payload;
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
