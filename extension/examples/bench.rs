//! Sidecar benchmark: prints figures, asserts nothing. Run after a release build:
//!
//! ```text
//! cargo build --release -p extension --bins --examples
//! cargo run --release -p extension --example bench
//! ```
//!
//! Measures, for the release `otel-sidecar` next to a trivial extension (`floor_extension`): init (spawn
//! to first `next`), RSS, post-runtime overhead p50/p99 per flush mode at steady traffic, receiver
//! throughput, and binary sizes. Everything runs under `lambda-simulator` with a local fake backend. The
//! post-runtime overhead is timed exactly: a pass-through proxy in front of the Extensions API stamps
//! each `next` call, and the function stamps the moment it finished (response and telemetry sent).

#[allow(dead_code)] // the bench uses only part of the test function
#[path = "../tests/common/function.rs"]
mod function;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use function::{Function, Work};
use lambda_simulator::{InvocationBuilder, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Arrival times of the extension's `next` calls, with a wake-up on each.
#[derive(Default)]
struct StampLog {
    times: Mutex<Vec<Instant>>,
    arrived: tokio::sync::Notify,
}

type Stamps = Arc<StampLog>;

impl StampLog {
    fn push(&self, at: Instant) {
        self.times.lock().unwrap().push(at);
        self.arrived.notify_waiters();
    }

    fn len(&self) -> usize {
        self.times.lock().unwrap().len()
    }

    /// Waits for stamp number `index`.
    async fn wait_for(&self, index: usize) -> Instant {
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(at) = self.times.lock().unwrap().get(index) {
                return *at;
            }
            notified.await;
        }
    }
}

struct Sidecar {
    child: Child,
    simulator: Simulator,
    nexts: Stamps,
    function: Option<Function>,
    receiver_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

/// Starts `binary` as an extension behind a timing proxy; returns it once it polled `next`, with the
/// spawn-to-first-`next` time.
async fn start(binary: &Path, config: &str, backend: &str) -> (Sidecar, Duration) {
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
    std::fs::write(
        &config_path,
        format!("receivers:\n  otlp_http: {{ endpoint: \"127.0.0.1:{receiver_port}\" }}\n{config}"),
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

/// A pass-through proxy to the simulator that stamps every Extensions API `next` call.
async fn proxy(upstream: String, nexts: Stamps) -> String {
    async fn forward(
        State((upstream, nexts, client)): State<(String, Stamps, reqwest::Client)>,
        request: Request,
    ) -> Response {
        if request.uri().path().ends_with("/extension/event/next") {
            nexts.push(Instant::now());
        }
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let url = format!(
            "{upstream}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let mut upstream_request = client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            if name != "host" {
                upstream_request = upstream_request.header(name, value);
            }
        }
        let Ok(response) = upstream_request.send().await else {
            return Response::builder().status(502).body(Body::empty()).unwrap();
        };
        let mut builder = Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        builder
            .body(Body::from(response.bytes().await.unwrap_or_default()))
            .unwrap()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let app =
        axum::Router::new()
            .fallback(forward)
            .with_state((upstream, nexts, reqwest::Client::new()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("127.0.0.1:{}", addr.port())
}

/// Runs `count` back-to-back invocations; returns each one's post-runtime overhead.
async fn invocations(sidecar: &mut Sidecar, count: usize, work: &Work) -> Vec<Duration> {
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

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sidecar_bin = release_dir().join("otel-sidecar");
    let floor_bin = release_dir().join("examples/floor_extension");
    for bin in [&sidecar_bin, &floor_bin] {
        assert!(
            bin.is_file(),
            "{} missing: run `cargo build --release -p extension --bins --examples` first",
            bin.display()
        );
    }
    let backend = testkit::FakeOtlpBackend::start().await.expect("backend");
    println!(
        "# otel-sidecar benchmark ({} cores)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    println!("| binary | stripped size |\n|---|---|");
    for bin in [&sidecar_bin, &floor_bin] {
        let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
        println!(
            "| {} | {:.2} MB ({size} bytes) |",
            bin.file_name().unwrap().to_string_lossy(),
            size as f64 / 1e6
        );
    }

    println!(
        "\n| extension | init p50 (spawn → first next) | init min | init max | idle RSS |\n|---|---|---|---|---|"
    );
    for (name, bin) in [
        ("otel-sidecar", &sidecar_bin),
        ("floor_extension", &floor_bin),
    ] {
        let mut inits = Vec::new();
        let mut rss = 0;
        for _ in 0..20 {
            let (sidecar, init) = start(bin, "", &backend.endpoint()).await;
            rss = rss_kb(sidecar.child.id(), "VmRSS:");
            inits.push(init);
        }
        let (min, max) = (*inits.iter().min().unwrap(), *inits.iter().max().unwrap());
        println!(
            "| {name} | {} ms | {} ms | {} ms | {:.1} MB |",
            ms(percentile(&mut inits, 0.5)),
            ms(min),
            ms(max),
            rss as f64 / 1024.0
        );
    }

    println!(
        "\n| flush mode | invocations | post-runtime p50 | p99 | max |\n|---|---|---|---|---|"
    );
    let work = Work {
        spans: 10,
        export: true,
        bad_requests: false,
    };
    for mode in ["end", "periodic", "continuous", "adaptive"] {
        let config = format!("flush: {{ mode: {mode}, interval_ms: 1000 }}\n");
        let (mut sidecar, _) = start(&sidecar_bin, &config, &backend.endpoint()).await;
        invocations(&mut sidecar, 20, &work).await; // warm-up: connections, adaptive's observations
        let mut overheads = invocations(&mut sidecar, 500, &work).await;
        let (p50, p99, max) = (
            percentile(&mut overheads, 0.5),
            percentile(&mut overheads, 0.99),
            *overheads.iter().max().unwrap(),
        );
        println!(
            "| {mode} | 500 (11 spans + 1 metric each) | {} ms | {} ms | {} ms |",
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
    let (mut floor, _) = start(&floor_bin, "", &backend.endpoint()).await;
    let mut overheads = invocations(
        &mut floor,
        200,
        &Work {
            export: false,
            ..work.clone()
        },
    )
    .await;
    println!(
        "| floor_extension | 200 (no telemetry) | {} ms | {} ms | - |",
        ms(percentile(&mut overheads, 0.5)),
        ms(percentile(&mut overheads, 0.99))
    );

    // Sustained load: invocations back to back in adaptive mode, then RSS.
    let (mut sidecar, _) = start(&sidecar_bin, "", &backend.endpoint()).await;
    let started = Instant::now();
    let mut count = 0;
    while started.elapsed() < Duration::from_secs(5) {
        invocations(
            &mut sidecar,
            50,
            &Work {
                spans: 50,
                ..work.clone()
            },
        )
        .await;
        count += 50;
    }
    let pid = sidecar.child.id();
    println!(
        "\nSustained load (adaptive, 51 spans per invocation): {count} invocations in 5 s, RSS {:.1} MB, peak RSS {:.1} MB",
        rss_kb(pid, "VmRSS:") as f64 / 1024.0,
        rss_kb(pid, "VmHWM:") as f64 / 1024.0
    );

    // Receiver throughput: 4 concurrent clients posting 100-span requests for 3 s (no flush meanwhile).
    let port = sidecar.receiver_port;
    let body = bytes::Bytes::from(prost::Message::encode_to_vec(&request_with_spans(100)));
    let deadline = Instant::now() + Duration::from_secs(3);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut sent = 0u64;
                while Instant::now() < deadline {
                    let response = client
                        .post(format!("http://127.0.0.1:{port}/v1/traces"))
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await;
                    if response.is_ok_and(|r| r.status().is_success()) {
                        sent += 100;
                    }
                }
                sent
            })
        })
        .collect();
    let mut spans = 0;
    for task in tasks {
        spans += task.await.unwrap_or(0);
    }
    println!(
        "Receiver throughput (OTLP/HTTP protobuf, 100 spans/request, 4 clients): {:.0} spans/s; peak RSS after it {:.1} MB (buffer cap 8 MiB)",
        spans as f64 / 3.0,
        rss_kb(pid, "VmHWM:") as f64 / 1024.0
    );
}

fn request_with_spans(
    n: usize,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("GET /items/{i}"),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            ..Default::default()
        })
        .collect();
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
