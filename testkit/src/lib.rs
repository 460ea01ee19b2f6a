//! Test support for the workspace's cross-process tests (never shipped in a binary).
//!
//! - [`otlp_backend`]: a fake OTLP/HTTP backend that decodes what it receives with the official
//!   OpenTelemetry protobuf definitions and can be told to fail, throttle or hang.
//! - [`moto`]: a real S3 (and Cognito) protocol server, `moto_server` from PyPI, on a free port.
//! - [`binaries`]: where the release binaries that `./scripts/test` built are.
//! - [`otlp_view`]: flattened, assertion-friendly views of decoded spans and metric points.
//! - [`peers`]: the real peers built from pinned Go modules: [`rie`] (AWS's Lambda Runtime Interface
//!   Emulator, in a private mount namespace) and [`otelcol`] (an OpenTelemetry Collector writing what
//!   it accepted to a file).
//! - [`tools`]: the Python and npm packages the tests run, installed on first use.

pub mod binaries;
pub mod moto;
pub mod otelcol;
pub mod otlp_backend;
pub mod otlp_view;
pub mod peers;
pub mod rie;
pub mod tools;

pub use binaries::release_binary;
pub use moto::MotoServer;
pub use otelcol::{Collector, CollectorOptions};
pub use otlp_backend::{Behaviour, FakeOtlpBackend, Received};
pub use otlp_view::{FlatMetricPoint, FlatSpan};
pub use peers::{Peer, peer_binary};
pub use rie::{RieOptions, RieSandbox};

/// Errors of the test support code.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// An I/O error while starting a server or a process.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `spawning moto_server`.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A tool the tests need is missing.
    #[error("{0}")]
    Missing(String),
    /// A peer wrote something that is not what it should be (e.g. a collector line that is not OTLP/JSON).
    #[error("{0}")]
    Invalid(String),
    /// A condition was not met in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
}

/// `data` gzip-compressed, as an OTLP exporter with `compression: gzip` sends it.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("compressing into memory");
    encoder.finish().expect("compressing into memory")
}
