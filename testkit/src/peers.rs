//! The real peers the end-to-end tests run against, built from pinned Go modules by
//! `scripts/lib/peers.sh` (once per machine, into `$CARGO_TARGET_DIR/peers/`): AWS's Lambda Runtime
//! Interface Emulator ([`crate::rie`]) and a minimal OpenTelemetry Collector ([`crate::otelcol`]).
//! Asking for one builds it when it is missing; without Go, or with a module the proxy does not
//! serve, the error names what is missing and the test fails (it never skips).

use crate::TestkitError;
use std::path::PathBuf;
use std::process::Command;

/// One peer `scripts/lib/peers.sh` knows how to build.
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    /// `aws-lambda-rie`, from `github.com/aws/aws-lambda-runtime-interface-emulator`.
    RuntimeInterfaceEmulator,
    /// `otelcol-peers`, from `testkit/peers/otelcol`.
    Collector,
}

impl Peer {
    fn script_arg(self) -> &'static str {
        match self {
            Peer::RuntimeInterfaceEmulator => "rie",
            Peer::Collector => "otelcol",
        }
    }
}

/// The peer's binary, building it first if this machine has none.
pub fn peer_binary(peer: Peer) -> Result<PathBuf, TestkitError> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/peers.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(peer.script_arg())
        .output()
        .map_err(|source| TestkitError::Io {
            what: format!("running {}", script.display()),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(TestkitError::Missing(format!(
            "{} {} failed ({}):\n{stderr}",
            script.display(),
            peer.script_arg(),
            output.status
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout.lines().last().map(PathBuf::from).unwrap_or_default();
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestkitError::Missing(format!(
            "{} {} printed no binary path (stdout {stdout:?}, stderr {stderr:?})",
            script.display(),
            peer.script_arg()
        )))
    }
}
