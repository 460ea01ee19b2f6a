//! The layer next to a Node.js function written the standard way (@opentelemetry/sdk-trace-node, the OTLP/HTTP
//! exporter, @opentelemetry/instrumentation-aws-lambda; `tests/fixtures/functions/node/`), under lambda-env with
//! freezing: dozens of invocations and a SHUTDOWN right after the last one. The runtime is a minimal Runtime API
//! loop that loads and calls the handler as Lambda's Node runtime does (`runtime.js` says why not aws-lambda-ric).

mod stock;

use serde_json::json;
use stock::{Layer, Setup, fixture};

/// As in layer_python.rs: a p99 that means something.
const INVOCATIONS: usize = 100;

/// `node`, provided the function's packages are in node_modules (installed on first use).
fn runtime() -> lambda_env::Process {
    let modules = testkit::tools::node_modules()
        .unwrap_or_else(|e| panic!("{e}"))
        .join("@opentelemetry/instrumentation-aws-lambda");
    assert!(
        modules.is_dir(),
        "{} missing although package-lock.json is installed",
        modules.display()
    );
    let dir = fixture("node");
    lambda_env::Process::new("node")
        .name("bootstrap")
        .arg(dir.join("runtime.js").display().to_string())
        .env(
            "NODE_OPTIONS",
            format!("--require {}", dir.join("otel.js").display()),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_of_a_stock_node_function_arrives_once_with_the_lambda_resource() {
    let layer = Layer::start(Setup {
        runtime: runtime(),
        handler: "index.handler",
        task_root: fixture("node"),
        env: Vec::new(),
        sidecar: true,
        extensions: Vec::new(),
        backend_var: Some("OTEL_SIDECAR_EXPORTER_ENDPOINT"),
        sdk_to_sidecar: true,
    })
    .await;
    let finished = layer.run(INVOCATIONS, &json!({"order": 1})).await;
    let sidecar_log = layer.shutdown().await;

    let spans = layer.spans();
    for work in stock::check_function_spans(&spans, &finished, &sidecar_log) {
        stock::check_resource(work, "nodejs");
    }
    stock::check_post_runtime(&finished);
}
