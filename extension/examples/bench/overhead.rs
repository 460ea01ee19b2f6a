//! Post-runtime overhead (function done → extension's `next`) p50/p99 per flush mode at steady traffic,
//! next to the floor extension's.

use crate::function::Work;
use crate::harness::{invocations, start};
use crate::report::{ms, percentile};
use std::path::Path;

/// The steady-traffic invocation: 10 spans under the root span, exported, no bad requests.
pub const WORK: Work = Work {
    spans: 10,
    export: true,
    bad_requests: false,
};

pub async fn run(sidecar_bin: &Path, floor_bin: &Path, backend: &str) {
    println!(
        "\n| flush mode | invocations | post-runtime p50 | p99 | max |\n|---|---|---|---|---|"
    );
    for mode in ["end", "periodic", "continuous", "adaptive"] {
        let config = format!("flush: {{ mode: {mode}, interval_ms: 1000 }}\n");
        let (mut sidecar, _) = start(sidecar_bin, &config, backend).await;
        invocations(&mut sidecar, 20, &WORK).await; // warm-up: connections, adaptive's observations
        let mut overheads = invocations(&mut sidecar, 500, &WORK).await;
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
    let (mut floor, _) = start(floor_bin, "", backend).await;
    let silent = Work {
        export: false,
        ..WORK
    };
    let mut overheads = invocations(&mut floor, 200, &silent).await;
    println!(
        "| floor_extension | 200 (no telemetry) | {} ms | {} ms | - |",
        ms(percentile(&mut overheads, 0.5)),
        ms(percentile(&mut overheads, 0.99))
    );
}
