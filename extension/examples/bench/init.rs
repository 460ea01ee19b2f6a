//! Init (spawn → first `next`) and idle RSS of the sidecar and of the floor extension, 20 starts each.

use crate::harness::start;
use crate::report::{ms, percentile};
use crate::rss::rss_kb;
use std::path::Path;

pub async fn run(sidecar_bin: &Path, floor_bin: &Path, backend: &str) {
    println!(
        "\n| extension | init p50 (spawn → first next) | init min | init max | idle RSS |\n|---|---|---|---|---|"
    );
    for (name, bin) in [
        ("otel-sidecar", sidecar_bin),
        ("floor_extension", floor_bin),
    ] {
        let mut inits = Vec::new();
        let mut rss = 0;
        for _ in 0..20 {
            let (sidecar, init) = start(bin, "", backend).await;
            rss = rss_kb(sidecar.pid, "VmRSS:");
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
}
