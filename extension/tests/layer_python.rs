//! The layer next to a Python function written the standard way (awslambdaric, opentelemetry-sdk with the OTLP/HTTP
//! exporter, opentelemetry-instrumentation-aws-lambda and -botocore; `tests/fixtures/functions/python/app.py`),
//! under lambda-env with freezing: dozens of invocations and a SHUTDOWN right after the last one.

mod stock;

use serde_json::json;
use stock::{Layer, Setup, fixture, python_runtime};

/// Invocations per run: enough for the adaptive flush to switch to its busy mode (after 3) and for a p99 to mean
/// something (the 99th of 100: the cold invocation, whose first export opens the connection to the backend
/// before `next` in `end` mode, may be the one above it); a few seconds on a loaded 2-core machine.
const INVOCATIONS: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_of_a_stock_python_function_arrives_once_with_the_lambda_resource() {
    let moto = testkit::moto::MotoServer::start().expect("moto");
    let layer = Layer::start(Setup {
        runtime: python_runtime(),
        handler: "app.handler",
        task_root: fixture("python"),
        env: vec![("AWS_ENDPOINT_URL".into(), moto.endpoint())],
        sidecar: true,
        extensions: Vec::new(),
        backend_var: Some("OTEL_SIDECAR_EXPORTER_ENDPOINT"),
        sdk_to_sidecar: true,
    })
    .await;
    let finished = layer.run(INVOCATIONS, &json!({"s3": true})).await;
    let sidecar_log = layer.shutdown().await;

    let spans = layer.spans();
    let work = stock::check_function_spans(&spans, &finished, &sidecar_log);
    for work in work {
        // botocore's S3 call under the handler's span, in the same trace.
        let s3: Vec<_> = spans
            .iter()
            .filter(|s| s.kind == 3 && s.parent_span_id == work.span_id)
            .collect();
        assert_eq!(s3.len(), 1, "botocore span under {work:?}");
        assert_eq!(s3[0].attr_str("rpc.method"), Some("ListBuckets"));
        assert_eq!(s3[0].trace_id, work.trace_id);
        stock::check_resource(work, "python");
        stock::check_resource(s3[0], "python");
    }
    stock::check_post_runtime(&finished);
}
