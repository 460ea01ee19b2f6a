//! Locating the release binaries that `./scripts/test` builds before it runs `cargo test`.

use crate::TestkitError;
use std::path::PathBuf;

/// The release binary `name`: `$AWS_RUST_HTTP_API_RELEASE_DIR/name`, else `<target>/release/name`
/// next to the running test executable. Errors (with the command to run) when it was not built.
pub fn release_binary(name: &str) -> Result<PathBuf, TestkitError> {
    let dir = match std::env::var_os("AWS_RUST_HTTP_API_RELEASE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir()?.join("release"),
    };
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestkitError::Missing(format!(
            "release binary {} not found: run ./scripts/test (or `cargo build --release --workspace --bins` first)",
            path.display()
        )))
    }
}

/// `<target>` from the test executable's path `<target>/<profile>/deps/<test>`.
fn target_dir() -> Result<PathBuf, TestkitError> {
    let exe = std::env::current_exe().map_err(|source| TestkitError::Io {
        what: "locating the test executable".into(),
        source,
    })?;
    exe.ancestors()
        .nth(3)
        .map(PathBuf::from)
        .ok_or_else(|| TestkitError::Missing(format!("no target dir above {}", exe.display())))
}
