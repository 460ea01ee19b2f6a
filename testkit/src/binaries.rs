//! Locating the workspace binaries (`bootstrap`, `otel-sidecar`) that the end-to-end tests run as real
//! processes.
//!
//! `./scripts/test` builds the release binaries (what the image ships) and names their directory in
//! `AWS_RUST_HTTP_API_RELEASE_DIR`: then those are used, and nothing else. A plain `cargo test` has no
//! such variable; it does build every workspace binary of the packages it tests in `<target>/debug/`
//! (a binary of another package only when that package is tested too, as in `cargo test` at the root
//! or `--workspace`). Then the newer of `<target>/release/NAME` and `<target>/debug/NAME` is used: the
//! debug one when this `cargo test` just rebuilt it, the release one when `./scripts/test` ran since.

use crate::TestkitError;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The binary `name` for an end-to-end test (see the module documentation for which one). Errors, with
/// the command to run, when there is none.
pub fn release_binary(name: &str) -> Result<PathBuf, TestkitError> {
    if let Some(dir) = std::env::var_os("AWS_RUST_HTTP_API_RELEASE_DIR") {
        let path = PathBuf::from(dir).join(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(missing(&[path]))
        };
    }
    let target = target_dir()?;
    let candidates = [
        target.join("release").join(name),
        target.join("debug").join(name),
    ];
    let path = newest(&candidates).ok_or_else(|| missing(&candidates))?;
    // Shown with a failing test's output: a binary of a package this `cargo test` did not build may be
    // older than its sources.
    eprintln!(
        "testkit: running {} (no AWS_RUST_HTTP_API_RELEASE_DIR; built by an earlier cargo command, rebuilt only \
         if this cargo test covers its package)",
        path.display()
    );
    Ok(path)
}

/// The most recently modified of `paths` that exists.
fn newest(paths: &[PathBuf]) -> Option<PathBuf> {
    paths
        .iter()
        .filter_map(|path| Some((modified(path)?, path)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, path)| path.clone())
}

fn modified(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| meta.modified().ok()).flatten()
}

fn missing(looked_at: &[PathBuf]) -> TestkitError {
    let paths: Vec<String> = looked_at.iter().map(|p| p.display().to_string()).collect();
    TestkitError::Missing(format!(
        "no {} built: run ./scripts/test (it builds the release binaries, then runs every test), or `cargo test` \
         at the workspace root (it builds every binary the tests run)",
        paths.join(" or ")
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_existing_binary_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new, absent) = (
            dir.path().join("old"),
            dir.path().join("new"),
            dir.path().join("absent"),
        );
        std::fs::write(&old, "").unwrap();
        std::fs::write(&new, "").unwrap();
        let earlier = SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(earlier)
            .unwrap();
        assert_eq!(
            newest(&[old.clone(), new.clone(), absent.clone()]),
            Some(new.clone())
        );
        assert_eq!(newest(&[absent.clone(), old.clone()]), Some(old));
        assert_eq!(newest(&[absent]), None);
    }
}
