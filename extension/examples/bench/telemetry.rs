//! The Telemetry API's cost: parsing and translation throughput in-process (records/s), then the same
//! steady traffic with the subscription on and off: post-runtime overhead and RSS.

use crate::harness::{invocations, start};
use crate::overhead::WORK;
use crate::report::{ms, percentile};
use crate::rss::rss_kb;
use extension::lifecycle::completion::Completions;
use extension::telemetry::metrics::FaasMetrics;
use extension::telemetry::parse::parse_batch;
use extension::telemetry::translate::Translator;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// One invocation as Lambda reports it: start, 8 function log lines (JSON and text), runtimeDone with
/// its three sub-phase spans, report: 11 records.
fn invocation_records(n: usize) -> Vec<serde_json::Value> {
    let id = format!("6d68ca91-49c9-448d-89b8-{n:012x}");
    let tracing = serde_json::json!({"type": "X-Amzn-Trace-Id",
        "value": format!("Root=1-67a3b1c2-{n:024x};Parent=53995c3f42cd8ad8;Sampled=0")});
    let mut records = vec![
        serde_json::json!({"time": "2026-11-25T10:00:00.050Z", "type": "platform.start",
        "record": {"requestId": id, "version": "$LATEST", "tracing": tracing}}),
    ];
    for line in 0..8 {
        let record = if line % 2 == 0 {
            serde_json::json!({"timestamp": "2026-11-25T10:00:00.051Z", "level": "INFO",
                "message": "listed buckets", "requestId": id, "count": line})
        } else {
            serde_json::json!(format!("2026-11-25T10:00:00.052Z INFO line {line} of {id}"))
        };
        records.push(serde_json::json!({"time": "2026-11-25T10:00:00.052Z", "type": "function", "record": record}));
    }
    records.push(serde_json::json!({"time": "2026-11-25T10:00:00.062Z", "type": "platform.runtimeDone",
        "record": {"requestId": id, "status": "success", "metrics": {"durationMs": 12.5, "producedBytes": 73},
            "tracing": tracing, "spans": [
                {"name": "responseLatency", "start": "2026-11-25T10:00:00.050Z", "durationMs": 11.2},
                {"name": "responseDuration", "start": "2026-11-25T10:00:00.061Z", "durationMs": 0.5},
                {"name": "runtimeOverhead", "start": "2026-11-25T10:00:00.062Z", "durationMs": 0.7}]}}));
    records.push(
        serde_json::json!({"time": "2026-11-25T10:00:00.063Z", "type": "platform.report",
        "record": {"requestId": id, "status": "success", "metrics": {"durationMs": 13.4,
            "billedDurationMs": 14, "memorySizeMB": 128, "maxMemoryUsedMB": 24}}}),
    );
    records
}

fn parsing_throughput() {
    let invocations_per_batch = 90; // ~1000 records: Lambda's default maxItems
    let batches: Vec<Vec<u8>> = (0..200)
        .map(|b| {
            let records: Vec<serde_json::Value> = (0..invocations_per_batch)
                .flat_map(|i| invocation_records(b * invocations_per_batch + i))
                .collect();
            serde_json::to_vec(&records).expect("json")
        })
        .collect();
    let records: usize = 200 * invocations_per_batch * 11;
    let bytes: usize = batches.iter().map(Vec::len).sum();
    let metrics = Arc::new(FaasMetrics::new("http"));
    let mut translator = Translator::new(metrics, "http");
    let completions = Completions::default();
    let started = Instant::now();
    let mut produced = 0;
    for batch in &batches {
        let parsed = parse_batch(batch).expect("batch");
        let out = translator.apply(parsed.events, &completions);
        produced += out.spans.len() + out.logs.len();
    }
    let elapsed = started.elapsed();
    println!(
        "\nTelemetry API parsing + translation: {records} records ({:.1} MB) in {} ms: {:.0} records/s, {:.0} MB/s ({produced} spans and log records out)",
        bytes as f64 / 1e6,
        ms(elapsed),
        records as f64 / elapsed.as_secs_f64(),
        bytes as f64 / 1e6 / elapsed.as_secs_f64()
    );
}

pub async fn run(sidecar_bin: &Path, backend: &str) {
    parsing_throughput();
    println!(
        "\n| Telemetry API | invocations | post-runtime p50 | p99 | RSS after |\n|---|---|---|---|---|"
    );
    for (label, config) in [
        ("off", "telemetry_api: { enabled: false }\n"),
        ("on (platform events from lambda-env)", ""),
    ] {
        let config = format!("flush: {{ mode: adaptive }}\n{config}");
        let (mut sidecar, _) = start(sidecar_bin, &config, backend).await;
        invocations(&mut sidecar, 20, &WORK).await;
        let mut overheads = invocations(&mut sidecar, 500, &WORK).await;
        println!(
            "| {label} | 500 | {} ms | {} ms | {:.1} MB |",
            ms(percentile(&mut overheads, 0.5)),
            ms(percentile(&mut overheads, 0.99)),
            rss_kb(sidecar.pid, "VmRSS:") as f64 / 1024.0
        );
    }
}
