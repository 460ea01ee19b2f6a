//! A Python function with a stock OpenTelemetry SDK (`tests/fixtures/functions/python/app.py`: awslambdaric,
//! opentelemetry-sdk, the OTLP/HTTP exporter, the aws-lambda instrumentation) under lambda-env with freezing, as
//! the layer runs it: the sidecar vs no extension (`OTEL_SDK_DISABLED=true`: the function exports nowhere), and
//! vs rotel when `BENCH_ROTEL` names its Lambda extension binary. Init is `platform.report`'s `initDurationMs`
//! (until the runtime and every extension called `next`), invoke is its `durationMs` (the function's own flush
//! to the extension included), post-runtime its `extensionOverhead` span, RSS the extension's `VmHWM`.
//!
//! rotel is given the caller's `ROTEL_*` variables plus `ROTEL_OTLP_EXPORTER_ENDPOINT` (the local backend); the
//! function's SDK keeps its default endpoint, `http://localhost:4318`, rotel's default receiver.

use crate::report::{ms, percentile};
use crate::rss::rss_kb;
use crate::stock::{Layer, Setup, fixture, post_runtime_ms, python_runtime};
use serde_json::json;
use std::time::Duration;

const INVOCATIONS: usize = 200;

struct Row {
    name: String,
    init_ms: f64,
    invoke: Vec<Duration>,
    post: Vec<Duration>,
    rss_mb: Option<f64>,
    spans: usize,
}

async fn measure(name: &str, setup: Setup, extension: Option<&str>) -> Row {
    let layer = Layer::start(setup).await;
    let finished = layer.run(INVOCATIONS, &json!({})).await;
    let rss_mb = extension.and_then(|ext| {
        let pid = layer.sandbox.pids().into_iter().find(|(n, _)| n == ext)?.1;
        Some(rss_kb(pid, "VmHWM:") as f64 / 1024.0)
    });
    layer.shutdown().await;
    let duration = |v: f64| Duration::from_secs_f64(v / 1000.0);
    Row {
        name: name.to_owned(),
        init_ms: finished[0].report["metrics"]["initDurationMs"]
            .as_f64()
            .unwrap_or(f64::NAN),
        invoke: finished
            .iter()
            .map(|f| duration(f.report["metrics"]["durationMs"].as_f64().unwrap_or(0.0)))
            .collect(),
        post: finished
            .iter()
            .map(|f| {
                if extension.is_some() {
                    duration(post_runtime_ms(f))
                } else {
                    Duration::ZERO
                }
            })
            .collect(),
        rss_mb,
        spans: layer.spans().iter().filter(|s| s.name == "work").count(),
    }
}

fn setup(sidecar: bool) -> Setup {
    Setup {
        runtime: python_runtime(),
        handler: "app.handler",
        task_root: fixture("python"),
        env: Vec::new(),
        sidecar,
        extensions: Vec::new(),
        backend_var: Some("OTEL_SIDECAR_EXPORTER_ENDPOINT"),
        sdk_to_sidecar: sidecar,
    }
}

pub async fn run() {
    println!(
        "\n## Python function, stock SDK (awslambdaric + opentelemetry-sdk, {INVOCATIONS} invocations under lambda-env, freezing)\n"
    );
    let mut rows = Vec::new();
    let mut none = setup(false);
    none.env.push(("OTEL_SDK_DISABLED".into(), "true".into()));
    rows.push(measure("no extension (SDK disabled)", none, None).await);
    rows.push(measure("otel-sidecar (layer)", setup(true), Some("otel-sidecar")).await);
    match std::env::var("BENCH_ROTEL") {
        Ok(path) => {
            let bin = std::path::PathBuf::from(&path);
            let name = bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut rotel = setup(false);
            rotel.backend_var = Some("ROTEL_OTLP_EXPORTER_ENDPOINT");
            rotel
                .env
                .extend(std::env::vars().filter(|(k, _)| k.starts_with("ROTEL_")));
            rotel.extensions.push(lambda_env::Process::new(bin));
            rows.push(measure(&format!("rotel ({path})"), rotel, Some(&name)).await);
        }
        Err(_) => println!(
            "(rotel: set BENCH_ROTEL=/path/to/rotel's Lambda extension binary to compare)\n"
        ),
    }
    println!(
        "| extension | init ms | invoke p50 / p99 ms | post-runtime p50 / p99 ms | extension peak RSS MB | function spans at the backend |"
    );
    println!("|---|---|---|---|---|---|");
    for mut row in rows {
        println!(
            "| {} | {:.1} | {} / {} | {} / {} | {} | {} |",
            row.name,
            row.init_ms,
            ms(percentile(&mut row.invoke, 0.5)),
            ms(percentile(&mut row.invoke, 0.99)),
            ms(percentile(&mut row.post, 0.5)),
            ms(percentile(&mut row.post, 0.99)),
            row.rss_mb
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "-".into()),
            row.spans
        );
    }
}
