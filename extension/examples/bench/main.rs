//! Sidecar benchmark: prints figures, asserts nothing. Run after a release build:
//!
//! ```text
//! cargo build --release -p extension --bin otel-sidecar   # as shipped (dev-dependencies would change it)
//! cargo build --release -p extension --example floor_extension
//! cargo run --release -p extension --example bench
//! cargo run --release -p extension --example bench -- python   # only the Python function section
//! ```
//!
//! Measures, for the release `otel-sidecar` next to a trivial extension (`floor_extension`): init (spawn
//! to first `next`), RSS, post-runtime overhead p50/p99 per flush mode at steady traffic, receiver
//! throughput, binary sizes, and the Telemetry API's cost (parsing throughput; overhead and RSS on vs off). Everything runs under `lambda-env` (the workspace's Lambda environment) with a local fake backend. The
//! post-runtime overhead is timed exactly: a pass-through proxy in front of the Extensions API stamps
//! each `next` call, and the function stamps the moment it finished (response and telemetry sent).
//!
//! One module per printed section (`init`, `overhead`, `rss`, `throughput`, `telemetry`), on a shared harness
//! (`harness`: the sidecar under lambda-env; `proxy`: the `next` stamps) and `report` (formatting).

// Measurement tooling, not product code: a failed unwrap aborts the run with its cause.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the bench uses only part of the test function
#[path = "../../tests/common/function.rs"]
mod function;
mod harness;
mod init;
mod overhead;
mod proxy;
mod python;
mod report;
mod rss;
#[path = "../../tests/stock/mod.rs"]
mod stock;
mod telemetry;
mod throughput;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `-- python`: only the Python function section (the layer next to a stock SDK).
    if std::env::args().nth(1).as_deref() == Some("python") {
        python::run().await;
        return;
    }
    let sidecar_bin = harness::release_dir().join("otel-sidecar");
    let floor_bin = harness::release_dir().join("examples/floor_extension");
    for bin in [&sidecar_bin, &floor_bin] {
        assert!(
            bin.is_file(),
            "{} missing: run `cargo build --release -p extension --bin otel-sidecar` and \
             `cargo build --release -p extension --example floor_extension` first",
            bin.display()
        );
    }
    let backend = testkit::FakeOtlpBackend::start().await.expect("backend");
    let backend = backend.endpoint();
    println!(
        "# otel-sidecar benchmark ({} cores)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    report::sizes(&[&sidecar_bin, &floor_bin]);
    init::run(&sidecar_bin, &floor_bin, &backend).await;
    overhead::run(&sidecar_bin, &floor_bin, &backend).await;
    let loaded = rss::sustained_load(&sidecar_bin, &backend).await;
    throughput::run(&loaded).await;
    telemetry::run(&sidecar_bin, &backend).await;
    python::run().await;
}
