//! docs/sidecar.md, "Pointing the sidecar at the backend while the SDK exports to the sidecar": the combinations of
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (read by the function's SDK and the sidecar alike) and the layer's
//! `OTEL_SIDECAR_EXPORTER_ENDPOINT`, with the real sidecar, its shipped layer config and a stock Python function.

mod stock;

use serde_json::json;
use stock::{Layer, Setup, fixture, python_runtime};

const INVOCATIONS: usize = 5;

fn work_spans(layer: &Layer) -> usize {
    layer.spans().iter().filter(|s| s.name == "work").count()
}

/// Only the SDK's variable, pointing at the sidecar: the sidecar ignores it for itself (it would export to itself),
/// says so once, and with no backend prints its console summary; the function is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_endpoint_alone_is_ignored_by_the_sidecar_which_prints_to_the_console() {
    let layer = Layer::start(Setup {
        runtime: python_runtime(),
        handler: "app.handler",
        task_root: fixture("python"),
        env: Vec::new(),
        sidecar: true,
        extensions: Vec::new(),
        backend_var: None,
        sdk_to_sidecar: true,
    })
    .await;
    layer.run(INVOCATIONS, &json!({})).await;
    let log = layer.shutdown().await;
    let own = log.iter().filter(|l| l.contains("own receiver")).count();
    assert_eq!(
        own, 1,
        "one warning about OTEL_EXPORTER_OTLP_ENDPOINT: {log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("OTEL_EXPORTER_OTLP_ENDPOINT")),
        "the warning names the variable: {log:#?}"
    );
    // The console exporter printed the function's spans (stdout: the same output stream).
    let printed = log.iter().filter(|l| l.contains("[otel] trace")).count();
    assert!(printed >= 1, "console summary: {log:#?}");
    assert!(
        log.iter().any(|l| l.trim_start().starts_with("work ")),
        "{log:#?}"
    );
    assert!(
        layer.backend.traces().is_empty(),
        "nothing may leave the sandbox"
    );
}

/// The SDK's variable pointing at the backend directly: the function bypasses the sidecar (its spans reach the
/// backend once, sent by its SDK) and the sidecar, for which the standard variable wins over the layer's file,
/// exports Lambda's platform telemetry to the same backend. Every invocation still ends normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_endpoint_at_the_backend_bypasses_the_sidecar_which_exports_there_too() {
    let backend = testkit::FakeOtlpBackend::start().await.expect("backend");
    let layer = Layer::start(Setup {
        runtime: python_runtime(),
        handler: "app.handler",
        task_root: fixture("python"),
        env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), backend.endpoint())],
        sidecar: true,
        extensions: Vec::new(),
        backend_var: Some("OTEL_SIDECAR_EXPORTER_ENDPOINT"),
        sdk_to_sidecar: false,
    })
    .await;
    let finished = layer.run(INVOCATIONS, &json!({})).await;
    layer.shutdown().await;
    // Sent by the SDK itself, to the variable's backend; nothing to the layer config's.
    let spans = testkit::otlp_view::spans(&backend.traces());
    for done in &finished {
        let server = spans
            .iter()
            .filter(|s| {
                s.kind == 2 && s.attr_str("faas.invocation_id") == Some(done.request_id.as_str())
            })
            .count();
        assert_eq!(server, 1, "the SDK's SERVER span of {}", done.request_id);
    }
    // Not enriched: it never went through the sidecar.
    let work = spans.iter().find(|s| s.name == "work").expect("work span");
    assert_eq!(work.resource.get("cloud.provider"), None);
    // The sidecar exported Lambda's own view to the same backend.
    assert!(
        spans
            .iter()
            .any(|s| s.scope == "otel-sidecar/telemetry-api"),
        "platform spans from the sidecar: {:?}",
        spans
            .iter()
            .map(|s| (&s.name, &s.scope))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        work_spans(&layer),
        0,
        "the layer config's endpoint is overridden by the variable"
    );
}
