//! The real sidecar's receivers from the outside: the OpenTelemetry Python SDK's own OTLP exporters
//! (HTTP, and gRPC when the `grpc` feature is built) as the function, malformed and oversized bodies next to good ones, and an invalid
//! config that must leave the function working (zero-config console output instead).

mod common;

use common::{Options, Sandbox, Work};
use std::path::PathBuf;
use std::process::Command;

/// `.venv/bin/python` with requirements-dev.txt (installed on first use), provided the OpenTelemetry
/// exporters import.
fn python() -> PathBuf {
    let python = testkit::tools::python().unwrap_or_else(|e| panic!("{e}"));
    let probe = Command::new(&python)
        .args(["-c", "import opentelemetry.exporter.otlp.proto.grpc.trace_exporter, opentelemetry.exporter.otlp.proto.http.trace_exporter"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "the OpenTelemetry Python exporters do not import from .venv although requirements-dev.txt is installed ({probe:?})"
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_exporters_interoperate() {
    let python = python();
    let sandbox =
        Sandbox::with_config("flush: { mode: end, completion_timeout_ms: 20000 }\n").await;
    // The Rust stand-in answers but exports nothing: the Python process plays the function's telemetry.
    let request_id = sandbox
        .enqueue(&Work {
            export: false,
            ..Work::default()
        })
        .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/otlp_interop.py");
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(&script)
        .args(["--http", &format!("http://127.0.0.1:{}", sandbox.http_port)])
        .args(["--invocation-id", &request_id]);
    // The gRPC receiver is a cargo feature (binary size): tested when built in (scripts/checks/sidecar-grpc.sh).
    let expected: &[&str] = if cfg!(feature = "grpc") {
        command.args(["--grpc", &format!("127.0.0.1:{}", sandbox.grpc_port)]);
        &["py-grpc-span", "py-http-child", "py-http-root"]
    } else {
        &["py-http-child", "py-http-root"]
    };
    let output = command.output().await.expect("run python");
    assert!(
        output.status.success(),
        "python exporters failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    sandbox.complete(&request_id).await;
    // End mode: the Python root span ended the invocation, so everything was exported before `next`.
    let spans = testkit::otlp_view::spans(&sandbox.backend().traces());
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), expected.len(), "{names:?}");
    for expected in expected {
        assert_eq!(
            names.iter().filter(|n| *n == expected).count(),
            1,
            "{expected} in {names:?}\n{}",
            sandbox.stderr()
        );
    }
    let root = spans.iter().find(|s| s.name == "py-http-root").unwrap();
    assert_eq!(
        root.attr_str("faas.invocation_id"),
        Some(request_id.as_str())
    );
    assert_eq!(
        root.resource.get("service.name").and_then(|v| v.as_str()),
        Some("python-interop")
    );
    assert_eq!(
        root.resource.get("faas.name").and_then(|v| v.as_str()),
        Some("sidecar-test")
    );
    let child = spans.iter().find(|s| s.name == "py-http-child").unwrap();
    assert_eq!(child.parent_span_id, root.span_id);
    assert_eq!(child.trace_id, root.trace_id);
    let points = testkit::otlp_view::metric_points(&sandbox.backend().metrics());
    let counter = points
        .iter()
        .find(|p| p.name == "py.requests")
        .expect("python metric delivered");
    assert_eq!(counter.value, 3.0);
    sandbox.shutdown_cleanly().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies_are_rejected_and_nothing_else_is_lost() {
    let sandbox = Sandbox::with_config("flush: { mode: end }\n").await;
    let work = Work {
        bad_requests: true,
        ..Work::default()
    };
    let expected = sandbox.invoke_times(3, &work).await;
    assert_eq!(
        *sandbox.stand_in().bad_statuses.lock().unwrap(),
        [400, 413, 400, 413, 400, 413]
    );
    let finished = sandbox.shutdown_cleanly().await;
    finished.assert_delivered_once(&expected);
    let counts = finished.span_counts();
    assert_eq!(counts.len(), expected.len(), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_reported_and_the_sidecar_falls_back_to_the_console() {
    let options = Options {
        config: "flush:\n  mode: sometimes\n".into(),
        backend: false,
        ..Options::default()
    };
    let sandbox = Sandbox::start(options).await;
    let (id, _) = sandbox.invoke(&Work::default()).await;
    let finished = sandbox.shutdown_cleanly().await;
    assert!(
        finished.stderr.contains("invalid configuration") && finished.stderr.contains("flush.mode"),
        "{}",
        finished.stderr
    );
    // The console summary shows the invocation's span tree: root first, its children indented below.
    let root_line = format!("  root-{id} ");
    let child_line = format!("    child-{id}-0 ");
    let root_at = finished
        .stdout
        .find(&root_line)
        .unwrap_or_else(|| panic!("no root span in:\n{}", finished.stdout));
    assert!(
        finished.stdout[root_at..].contains(&child_line),
        "{}",
        finished.stdout
    );
    assert!(
        finished
            .stdout
            .contains("[otel] metric function.invocations"),
        "{}",
        finished.stdout
    );
}

/// Without the `grpc` feature (the default build, and the layer), an SDK exporting OTLP/gRPC gets
/// `UNIMPLEMENTED` at once instead of "connection refused", which it would retry with backoff on every
/// flush (6.6 s per flush measured with the Python SDK); the sidecar says so once. The Python process
/// plays the function during an invocation (the sandbox is frozen between invocations, as in Lambda):
/// two gRPC exports, then its SERVER span over OTLP/HTTP, which ends the invocation.
#[cfg(not(feature = "grpc"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_exporter_is_refused_at_once_without_retries_when_grpc_is_not_built_in() {
    let python = python();
    let sandbox =
        Sandbox::with_config("flush: { mode: end, completion_timeout_ms: 20000 }\n").await;
    let request_id = sandbox
        .enqueue(&Work {
            export: false,
            ..Work::default()
        })
        .await;
    let script = r#"
import sys, time
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

grpc_endpoint, http_base, invocation_id = sys.argv[1:4]

class Capture(SpanExporter):
    spans = []
    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Capture()))
with provider.get_tracer("refusal").start_as_current_span("py-grpc-span"):
    pass
exporter = GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True, timeout=10)
for _ in range(2):
    started = time.monotonic()
    result = exporter.export(Capture.spans)
    print(result.name, f"{(time.monotonic() - started) * 1000:.1f} ms", flush=True)

http = TracerProvider()
http.add_span_processor(SimpleSpanProcessor(HttpSpanExporter(endpoint=f"{http_base}/v1/traces", timeout=10)))
with http.get_tracer("refusal").start_as_current_span("py-http-root", kind=SpanKind.SERVER, attributes={"faas.invocation_id": invocation_id}):
    pass
http.shutdown()
"#;
    let output = tokio::process::Command::new(&python)
        .args([
            "-c",
            script,
            &format!("127.0.0.1:{}", sandbox.grpc_port),
            &format!("http://127.0.0.1:{}", sandbox.http_port),
            &request_id,
        ])
        .output()
        .await
        .expect("run python");
    sandbox.complete(&request_id).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("python gRPC exporter against the refusal:\n{stdout}{stderr}");
    let results: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(results, ["FAILURE", "FAILURE"], "{stdout}\n{stderr}");
    // Refused with the status that is not retried: one attempt per export, no backoff.
    assert!(stderr.contains("UNIMPLEMENTED"), "{stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    // The function's HTTP span still arrived: the refusal costs the gRPC data only.
    let spans = testkit::otlp_view::spans(&sandbox.backend().traces());
    assert!(
        spans.iter().any(|s| s.name == "py-http-root"),
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let finished = sandbox.shutdown_cleanly().await;
    assert_eq!(
        finished
            .stderr
            .matches("OTLP/gRPC telemetry refused")
            .count(),
        1,
        "logged once: {}",
        finished.stderr
    );
}
