//! The tests' non-Rust tools, installed on first use so that plain `cargo test` works on a fresh clone:
//! the Python packages of requirements-dev.txt into `.venv` (moto, awslambdaric, the OpenTelemetry
//! Python SDK) and the npm packages of package-lock.json into `node_modules`, by the same scripts
//! `./scripts/test` runs (`scripts/lib/venv.sh`, `scripts/lib/npm.sh`: no-ops when up to date, one
//! install at a time across processes). Each runs at most once per test process.

use crate::TestkitError;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `.venv/bin/python`, with requirements-dev.txt installed.
pub fn python() -> Result<PathBuf, TestkitError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    install(&DONE, "venv.sh")?;
    Ok(workspace_root().join(".venv/bin/python"))
}

/// `node_modules`, with package-lock.json installed.
pub fn node_modules() -> Result<PathBuf, TestkitError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    install(&DONE, "npm.sh")?;
    Ok(workspace_root().join("node_modules"))
}

fn install(done: &OnceLock<Result<(), String>>, script: &str) -> Result<(), TestkitError> {
    done.get_or_init(|| {
        let path = workspace_root().join("scripts/lib").join(script);
        let output = Command::new("bash")
            .arg(&path)
            .output()
            .map_err(|e| format!("running {}: {e}", path.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}); it needs python3 with venv and pip (PyPI), or npm (the npm registry):\n{}",
                path.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    })
    .clone()
    .map_err(TestkitError::Missing)
}
